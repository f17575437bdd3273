/*
 * data/file_io.c — whole files in and out (atomically), CRC-32 and Adler-32.
 * Conventions and known answers: data/file_io.h.
 */
/* POSIX file calls (open, fstat, fsync) where the C library has them — Unix and WASI, told by
 * their headers where the compiler can look (__has_include), else by __unix__; Windows has its
 * own calls for replacing a file (below) and is never taken for POSIX. Built with
 * SIMCLR_NO_FILES (make FILES=0: a microcontroller without a file system), none of them: every
 * function on paths fails with the reason, and only the checksums remain. */
#if defined(SIMCLR_NO_FILES)
/* no file system: no POSIX headers either */
#elif !defined(_WIN32) && defined(__has_include)
#if __has_include(<fcntl.h>) && __has_include(<sys/stat.h>) && __has_include(<unistd.h>)
#define FILE_IO_HAVE_STAT 1
#endif
#elif defined(__unix__) || defined(__APPLE__)
#define FILE_IO_HAVE_STAT 1
#endif
#ifdef FILE_IO_HAVE_STAT
#define _POSIX_C_SOURCE 200809L /* open, fstat, fdopen: a FIFO or a directory is refused */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#ifdef _WIN32
#include <io.h>      /* _commit: the file's data to stable storage */
#include <windows.h> /* MoveFileExA */
#endif

#include "file_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"

#ifdef SIMCLR_NO_FILES
/* Built without a file system (SIMCLR_NO_FILES): the same functions, each failing with the
 * reason, so every reader and writer above them returns an error instead of needing the C
 * library's fopen, rename or remove (which a bare-metal C library cannot back). */
static int no_file_system(const char *path, simclr_error *err)
{
    return simclr_fail(err, "%s: built without a file system (SIMCLR_NO_FILES)", path);
}

int file_read_prefix(const char *path, uint8_t *bytes, size_t capacity, size_t *size,
                     size_t *file_size, simclr_error *err)
{
    (void)bytes;
    (void)capacity;
    *size = 0;
    *file_size = 0;
    return no_file_system(path, err);
}

int file_read_all(const char *path, size_t max_bytes, uint8_t **bytes, size_t *size,
                  simclr_error *err)
{
    (void)max_bytes;
    *bytes = NULL;
    *size = 0;
    return no_file_system(path, err);
}

int file_is_present(const char *path)
{
    (void)path;
    return 0;
}

int file_write_atomically(const char *path, const uint8_t *bytes, size_t count,
                          simclr_error *err)
{
    (void)bytes;
    (void)count;
    return no_file_system(path, err);
}
#else /* a file system */

/* Opens a file for reading, refusing what is not a regular file: reading a FIFO would block
 * forever and a directory has no size. Where POSIX is available the file is opened without
 * blocking and then examined (fstat), so nothing can be swapped in between the two. */
static FILE *open_regular_file(const char *path, simclr_error *err)
{
    FILE *file;
#ifdef FILE_IO_HAVE_STAT
    struct stat info;
    const int descriptor = open(path, O_RDONLY | O_NONBLOCK);
    if (descriptor < 0) {
        simclr_fail(err, "%s: cannot open the file (%s)", path, strerror(errno));
        return NULL;
    }
    if (fstat(descriptor, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(descriptor);
        simclr_fail(err, "%s: not a regular file", path);
        return NULL;
    }
    file = fdopen(descriptor, "rb");
    if (file == NULL) {
        close(descriptor);
        simclr_fail(err, "%s: cannot open the file (%s)", path, strerror(errno));
    }
#else
    file = fopen(path, "rb");
    if (file == NULL)
        simclr_fail(err, "%s: cannot open the file (%s)", path, strerror(errno));
#endif
    return file;
}

/* Opens a regular file for reading and tells its size in bytes; NULL on failure. */
static FILE *open_and_measure(const char *path, long *length, simclr_error *err)
{
    FILE *file = open_regular_file(path, err);
    if (file == NULL)
        return NULL;
    if (fseek(file, 0, SEEK_END) != 0 || (*length = ftell(file)) < 0 ||
        fseek(file, 0, SEEK_SET) != 0) {
        fclose(file);
        simclr_fail(err, "%s: cannot tell the file's size", path);
        return NULL;
    }
    return file;
}

int file_read_prefix(const char *path, uint8_t *bytes, size_t capacity, size_t *size,
                     size_t *file_size, simclr_error *err)
{
    long length;
    FILE *file = open_and_measure(path, &length, err);
    *size = *file_size = 0;
    if (file == NULL)
        return SIMCLR_FAILED;
    *file_size = (size_t)length;
    *size = fread(bytes, 1, capacity, file);
    fclose(file);
    if (*size < capacity && *size < *file_size)
        return simclr_fail(err, "%s: read failed", path);
    return SIMCLR_OK;
}

int file_read_all(const char *path, size_t max_bytes, uint8_t **bytes, size_t *size,
                  simclr_error *err)
{
    long length;
    FILE *file = open_and_measure(path, &length, err);
    *bytes = NULL;
    *size = 0;
    if (file == NULL)
        return SIMCLR_FAILED;
    if ((unsigned long)length > max_bytes) {
        fclose(file);
        return simclr_fail(err, "%s: %ld bytes is larger than the %lu accepted", path, length,
                           (unsigned long)max_bytes);
    }
    *bytes = simclr_calloc((size_t)length + 1, 1, path, err);
    if (*bytes == NULL) {
        fclose(file);
        return SIMCLR_FAILED;
    }
    if (fread(*bytes, 1, (size_t)length, file) != (size_t)length) {
        fclose(file);
        simclr_free(*bytes);
        *bytes = NULL;
        return simclr_fail(err, "%s: read failed", path);
    }
    fclose(file);
    *size = (size_t)length;
    return SIMCLR_OK;
}

int file_is_present(const char *path)
{
#ifdef FILE_IO_HAVE_STAT
    struct stat info;
    return stat(path, &info) == 0;
#else
    FILE *file = fopen(path, "rb"); /* no FIFOs without POSIX: opening cannot block */
    if (file != NULL)
        fclose(file);
    return file != NULL;
#endif
}

/* Creates the temporary file beside path: "<path>.tmp.<pid>.<n>", new and exclusively (POSIX
 * O_CREAT|O_EXCL, so a symbolic link or a file planted at that name is never written through
 * and two writers never share one); elsewhere "<path>.tmp", opened as C's fopen does. */
#ifdef __wasi__
#define PROCESS_ID 0L /* WASI has no process ids; O_EXCL still keeps two writers apart */
#else
#define PROCESS_ID ((long)getpid())
#endif

static FILE *create_temporary(char *temporary, size_t capacity, const char *path,
                              simclr_error *err)
{
    FILE *file;
#ifdef FILE_IO_HAVE_STAT
    static unsigned long counter;
    int descriptor;
    if (snprintf(temporary, capacity, "%s.tmp.%ld.%lu", path, PROCESS_ID, counter++) >=
        (int)capacity) {
        simclr_fail(err, "%s: the path is too long", path);
        return NULL;
    }
    descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (descriptor < 0) {
        simclr_fail(err, "%s: cannot create the file (%s)", temporary, strerror(errno));
        return NULL;
    }
    file = fdopen(descriptor, "wb");
    if (file == NULL) {
        close(descriptor);
        remove(temporary);
    }
#else
    if (snprintf(temporary, capacity, "%s.tmp", path) >= (int)capacity) {
        simclr_fail(err, "%s: the path is too long", path);
        return NULL;
    }
    file = fopen(temporary, "wb");
#endif
    if (file == NULL)
        simclr_fail(err, "%s: cannot create the file (%s)", temporary, strerror(errno));
    return file;
}

/* Flushes the folder holding path to stable storage, so a rename in it survives a power loss
 * (POSIX; a no-op elsewhere, and where a folder cannot be opened or synced). */
static void sync_folder_of(const char *path)
{
#ifdef FILE_IO_HAVE_STAT
    char folder[4096];
    const char *slash = strrchr(path, '/');
    int descriptor;
    if (slash == NULL)
        strcpy(folder, ".");
    else
        snprintf(folder, sizeof folder, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    descriptor = open(folder, O_RDONLY);
    if (descriptor >= 0) {
        fsync(descriptor);
        close(descriptor);
    }
#else
    (void)path;
#endif
}

/* Moves `from` over `to` in one step, replacing an existing `to`: 0, or −1 with errno set. C's
 * rename does so on POSIX; on Windows it refuses an existing target, so MoveFileEx with
 * MOVEFILE_REPLACE_EXISTING (atomic on one volume) and MOVEFILE_WRITE_THROUGH (returns once the
 * move is on disk, as the POSIX path's fsync of the folder). */
static int replace_file(const char *from, const char *to)
{
#ifdef _WIN32
    if (MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return 0;
    errno = GetLastError() == ERROR_ACCESS_DENIED ? EACCES : EIO;
    if (GetFileAttributesA(to) != INVALID_FILE_ATTRIBUTES &&
        (GetFileAttributesA(to) & FILE_ATTRIBUTE_DIRECTORY) != 0)
        errno = EISDIR;
    return -1;
#else
    return rename(from, to);
#endif
}

int file_write_atomically(const char *path, const uint8_t *bytes, size_t count,
                          simclr_error *err)
{
    char temporary[4096 + 48];
    int failure;
    FILE *file = create_temporary(temporary, sizeof temporary, path, err);
    if (file == NULL)
        return SIMCLR_FAILED;
    errno = 0;
    failure = fwrite(bytes, 1, count, file) != count || fflush(file) != 0;
#ifdef FILE_IO_HAVE_STAT
    failure = failure || fsync(fileno(file)) != 0; /* on stable storage before it is current */
#elif defined(_WIN32)
    failure = failure || _commit(_fileno(file)) != 0; /* FlushFileBuffers */
#endif
    if (failure) {
        const int error = errno;
        fclose(file);
        remove(temporary);
        return simclr_fail(err, "%s: write failed (%s)", path,
                           error != 0 ? strerror(error) : "disk full?");
    }
    if (fclose(file) != 0 || replace_file(temporary, path) != 0) {
        const int error = errno;
        remove(temporary);
        return simclr_fail(err, "%s: cannot move the finished file into place (%s)", path,
                           strerror(error));
    }
    sync_folder_of(path);
    return SIMCLR_OK;
}

#endif /* SIMCLR_NO_FILES */

/* CRC-32 four bits at a time: entry k is the CRC register after shifting the 4-bit value k
 * through the polynomial (the bit-at-a-time loop run 4 times), so one lookup replaces 4 steps. */
static const uint32_t crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t crc32_update(uint32_t crc, const uint8_t *bytes, size_t count)
{
    size_t i;
    crc = ~crc;
    for (i = 0; i < count; i++) {
        crc ^= bytes[i];
        crc = (crc >> 4) ^ crc32_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc32_nibble[crc & 15u];
    }
    return ~crc;
}

/* Adler-32 with the modulo taken once per 5552 bytes: 5552 is the longest run after which b,
 * starting below 65521 and gaining at most 255·n·(n + 1)/2 + (n + 1)·65520, still fits in 32
 * bits, so the sums are exact and the result that of reducing after every byte. */
uint32_t adler32_update(uint32_t adler, const uint8_t *bytes, size_t count)
{
    uint32_t a = adler & 0xffffu, b = adler >> 16;
    while (count > 0) {
        size_t run = count < 5552 ? count : 5552, i;
        for (i = 0; i < run; i++) {
            a += bytes[i];
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
        bytes += run;
        count -= run;
    }
    return (b << 16) | a;
}
