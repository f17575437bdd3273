/*
 * data/file_io.h — whole files in and out, and the two checksums the file formats carry: the
 * floor every reader and writer of data/ (IDX, gzip, CIFAR, safetensors, PNG/PPM) stands on.
 *
 * Reading: the whole file into one buffer, refusing files above a stated size, so a corrupt or
 * hostile file can never make a reader allocate without bound, and refusing what is not a
 * regular file (a FIFO would block forever; where the system has stat()).
 * Writing: to a temporary file beside <path>, then renamed over <path> only when complete
 * (rename is atomic on POSIX), so a reader never sees half a file, even when the writer is killed
 * midway. Where POSIX is available the temporary is "<path>.tmp.<pid>.<n>" (n counts this
 * process's writes), created new and exclusively (O_CREAT|O_EXCL): a symbolic link or a file
 * planted at that name makes the write fail, never redirects it, and two processes never share
 * a temporary. The file is flushed to stable storage (fsync) before the rename, and the folder
 * after it, so after a power loss <path> is the old file or the new one, whole. Elsewhere the
 * temporary is "<path>.tmp", opened with fopen, and nothing is synced. Every failure says why
 * (the system's error text).
 * Checksums:
 *   CRC-32 (gzip trailers, PNG chunks): the ISO-HDLC polynomial 0xEDB88320 (reflected), initial
 *           and final XOR 0xFFFFFFFF; known answer: "123456789" → 0xCBF43926.
 *   Adler-32 (zlib streams, PNG IDAT): a = 1 + Σ bytes, b = Σ a, both mod 65521; result
 *           b·65536 + a; known answer: "Wikipedia" → 0x11E60398.
 * Both are incremental: feeding the bytes in pieces gives the same value as all at once.
 * Errors name the file and the problem.
 * Built with SIMCLR_NO_FILES (make FILES=0; for a microcontroller without a file system), the
 * functions on paths make no call into the C library's files: each fails with the reason
 * ("built without a file system") and file_is_present answers 0, so everything above them
 * (checkpoints, image folders, reference files) returns that error; the checksums are unchanged.
 */
#ifndef SIMCLR_DATA_FILE_IO_H
#define SIMCLR_DATA_FILE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

/* Reads a whole file into a new buffer (freed with simclr_free; one zero byte past the end, so
 * text can be read as a C string), refusing files above max_bytes. */
int file_read_all(const char *path, size_t max_bytes, uint8_t **bytes, size_t *size,
                  simclr_error *err);

/* Reads the first min(capacity, file size) bytes of a file into bytes (e.g. an image's header),
 * and tells the file's whole size. */
int file_read_prefix(const char *path, uint8_t *bytes, size_t capacity, size_t *size,
                     size_t *file_size, simclr_error *err);

/* Writes bytes to a new temporary file beside path, then renames it over path: a reader never
 * sees half a file. Every file this project writes goes through here. */
int file_write_atomically(const char *path, const uint8_t *bytes, size_t count,
                          simclr_error *err);

/* Is there anything (a file, a folder, a FIFO...) at path? Never opens it where POSIX has stat,
 * so a FIFO cannot block; readers then refuse what is not a regular file with a message. */
int file_is_present(const char *path);

uint32_t crc32_update(uint32_t crc, const uint8_t *bytes, size_t count);     /* start with 0 */
uint32_t adler32_update(uint32_t adler, const uint8_t *bytes, size_t count); /* start with 1 */

#endif
