/*
 * data/run_files.c — log.csv, loss.svg and the run's folder; see run_files.h.
 */
/* Folders are made with POSIX mkdir where <sys/stat.h> has it (Unix, WASI; found with
 * __has_include where the compiler has it, else by __unix__), with CreateDirectoryA on Windows.
 * The lock (kill: is its owner alive?) and sigaction need a full POSIX system, __unix__.
 * Built without a file system (SIMCLR_NO_FILES), none of them, and no file is touched: making
 * a folder or probing it fails with the reason (data/file_io.h). */
#if defined(SIMCLR_NO_FILES)
/* no folders, no files */
#elif defined(__unix__) || defined(__APPLE__)
#define _XOPEN_SOURCE 700 /* mkdir, stat, open, kill, sigaction */
#define RUN_FILES_POSIX 1
#define RUN_FILES_MKDIR 1
#elif !defined(_WIN32) && defined(__has_include)
#if __has_include(<sys/stat.h>)
#define _POSIX_C_SOURCE 200809L
#define RUN_FILES_MKDIR 1
#endif
#endif

#include "run_files.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__wasi__) && !defined(_WASI_EMULATED_SIGNAL)
#define RUN_FILES_NO_SIGNALS 1 /* WASI has no signals: its host stops an instance */
#else
#include <signal.h>
#endif
#ifdef RUN_FILES_POSIX
#include <fcntl.h>
#include <unistd.h>
#endif
#ifdef RUN_FILES_MKDIR
#include <sys/stat.h>
#include <sys/types.h>
#endif
#ifdef _WIN32
#include <windows.h> /* CreateDirectoryA, GetFileAttributesA */
#endif

#include "../nn/memory.h"
#include "file_io.h"

int run_files_write_csv(const char *path, const training_log *log, size_t steps_per_epoch,
                        simclr_error *err)
{
    const size_t line_max = 128;
    char *text;
    size_t length = 0, i;
    int status;
    if (steps_per_epoch == 0)
        return simclr_fail(err, "%s: an epoch of 0 steps", path);
    text = simclr_calloc(96 + log->steps * line_max, 1, path, err);
    if (text == NULL)
        return SIMCLR_FAILED;
    length += (size_t)sprintf(text, "step,epoch,loss,learning_rate,views_per_second%s%s\n",
                              log->accuracy != NULL ? "," : "",
                              log->accuracy != NULL ? log->accuracy_name : "");
    for (i = 0; i < log->steps; i++) {
        length += (size_t)snprintf(text + length, line_max, "%lu,%lu,%.6f,%.6g,%.1f",
                                   (unsigned long)(i + 1),
                                   (unsigned long)(i / steps_per_epoch + 1),
                                   (double)log->loss[i], (double)log->learning_rate[i],
                                   (double)log->views_per_second[i]);
        if (log->accuracy != NULL) /* empty where it was not measured */
            length += (size_t)(isnan(log->accuracy[i])
                                   ? snprintf(text + length, line_max, ",")
                                   : snprintf(text + length, line_max, ",%.4f",
                                              (double)log->accuracy[i]));
        text[length++] = '\n';
    }
    status = file_write_atomically(path, (const uint8_t *)text, length, err);
    simclr_free(text);
    return status;
}

size_t run_files_csv_field(char *out, const char *text)
{
    size_t length = 0;
    out[length++] = '"';
    for (; *text != '\0'; text++) {
        if (*text == '"')
            out[length++] = '"';
        out[length++] = *text;
    }
    out[length++] = '"';
    out[length] = '\0';
    return length;
}

int run_files_write_loss_svg(const char *path, const training_log *log,
                             size_t steps_per_epoch, simclr_error *err)
{
    const double W = 640, H = 400, left = 60, right = 20, top = 30, bottom = 40;
    const size_t steps = log->steps, points = steps < 1000 ? steps : 1000;
    const size_t per_epoch = steps_per_epoch > 0 ? steps_per_epoch : 1;
    const size_t capacity = 4096 + points * 32 + (steps / per_epoch) * 96;
    char *svg = simclr_calloc(capacity, 1, path, err);
    double low = 1e300, high = -1e300;
    size_t length = 0, p, i;
    int status;
    if (svg == NULL)
        return SIMCLR_FAILED;
    /* comparisons, not fmin/fmax (a NaN is passed over either way): Debian 12's aarch64 gcc 12
     * crashes vectorising an fmin/fmax reduction at -O3 (in vect_transform_reduction) */
    for (i = 0; i < steps; i++) {
        if (log->loss[i] < low)
            low = log->loss[i];
        if (log->loss[i] > high)
            high = log->loss[i];
    }
    if (steps == 0)
        low = 0.0, high = 1.0;
    if (high - low < 1e-9)
        high = low + 1.0;
#define SVG_APPEND(...) \
    (length += (size_t)snprintf(svg + length, capacity - length, __VA_ARGS__))
    SVG_APPEND("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    SVG_APPEND("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    SVG_APPEND("<text x=\"%.0f\" y=\"18\">SimCLR training loss per step</text>\n", left);
    SVG_APPEND("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left,
               H - bottom, W - right, H - bottom);
    SVG_APPEND("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left,
               top, left, H - bottom);
    SVG_APPEND("<text x=\"4\" y=\"%.0f\">%.3f</text>\n", top + 4, high);
    SVG_APPEND("<text x=\"4\" y=\"%.0f\">%.3f</text>\n", H - bottom, low);
    SVG_APPEND("<text x=\"%.0f\" y=\"%.0f\">step 0</text>\n", left, H - 12);
    SVG_APPEND("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">step %lu</text>\n", W - right,
               H - 12, (unsigned long)steps);
    for (i = per_epoch; steps > 0 && i < steps; i += per_epoch) {
        const double x = left + (W - left - right) * (double)i / (double)steps;
        SVG_APPEND("<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x,
                   top, x, H - bottom);
    }
    SVG_APPEND("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (p = 0; p < points; p++) {
        const size_t from = p * steps / points, to = (p + 1) * steps / points;
        double mean = 0.0, x, y;
        for (i = from; i < to; i++)
            mean += log->loss[i];
        mean /= (double)(to - from);
        x = left + (W - left - right) * ((double)(from + to) / 2.0) / (double)steps;
        y = top + (H - top - bottom) * (high - mean) / (high - low);
        SVG_APPEND("%.1f,%.1f ", x, y);
    }
    SVG_APPEND("\"/>\n</svg>\n");
#undef SVG_APPEND
    status = length < capacity
                 ? file_write_atomically(path, (const uint8_t *)svg, length, err)
                 : simclr_fail(err, "%s: the plot outgrew its buffer", path);
    simclr_free(svg);
    return status;
}

int run_files_write(const char *dir, const training_log *log, size_t steps_per_epoch,
                    simclr_error *err)
{
    char path[4096];
    if (strlen(dir) + 16 > sizeof path)
        return simclr_fail(err, "'%s' is too long a folder name", dir);
    sprintf(path, "%s/log.csv", dir);
    if (run_files_write_csv(path, log, steps_per_epoch, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    sprintf(path, "%s/loss.svg", dir);
    return run_files_write_loss_svg(path, log, steps_per_epoch, err);
}

void run_files_folder_of(char *out, size_t size, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, size, ".");
    else
        snprintf(out, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/* Is there a folder at path? Makes one if not (its parent must exist); 1 when there is one now. */
#if defined(RUN_FILES_MKDIR)
#define FOLDER_SEPARATOR(c) ((c) == '/')
static int make_one_folder(const char *path)
{
    struct stat info;
    if (stat(path, &info) != 0 &&
        ((mkdir(path, 0777) != 0 && errno != EEXIST) || stat(path, &info) != 0))
        return 0;
    errno = ENOTDIR;
    return S_ISDIR(info.st_mode);
}
#elif defined(_WIN32)
#define FOLDER_SEPARATOR(c) ((c) == '/' || (c) == '\\')
static int make_one_folder(const char *path)
{
    DWORD attributes = GetFileAttributesA(path);
    if (attributes == INVALID_FILE_ATTRIBUTES && !CreateDirectoryA(path, NULL) &&
        GetLastError() != ERROR_ALREADY_EXISTS) {
        errno = GetLastError() == ERROR_ACCESS_DENIED ? EACCES : ENOENT;
        return 0;
    }
    attributes = GetFileAttributesA(path);
    errno = ENOTDIR;
    return attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
}
#endif

int run_files_make_folder(const char *dir, simclr_error *err)
{
#if defined(RUN_FILES_MKDIR) || defined(_WIN32)
    char path[4096];
    size_t i, length = strlen(dir);
    if (length == 0 || length >= sizeof path)
        return simclr_fail(err, "'%s' is not a usable folder name", dir);
    memcpy(path, dir, length + 1);
    for (i = 1; i < length; i++) { /* each parent in turn, as mkdir -p */
        if (!FOLDER_SEPARATOR(path[i]) || path[i - 1] == ':') /* not "C:" */
            continue;
        path[i] = '\0';
        make_one_folder(path); /* a failure shows in the last step's */
        path[i] = dir[i];
    }
    if (!make_one_folder(dir))
        return simclr_fail(err, "cannot create %s: %s", dir, strerror(errno));
    return SIMCLR_OK;
#elif defined(SIMCLR_NO_FILES)
    return simclr_fail(err, "%s: built without a file system (SIMCLR_NO_FILES)", dir);
#else
    (void)dir; /* C99 has no mkdir: the folder must exist */
    (void)err;
    return SIMCLR_OK;
#endif
}

int run_files_check_writable(const char *dir, simclr_error *err)
{
    char path[4096];
    if (strlen(dir) + 48 > sizeof path)
        return simclr_fail(err, "'%s' is too long a folder name", dir);
#if defined(SIMCLR_NO_FILES)
    return simclr_fail(err, "%s: built without a file system (SIMCLR_NO_FILES)", dir);
#else
#ifdef RUN_FILES_POSIX
    { /* created new (never through a link planted at the name), under this process's id */
        int descriptor;
        sprintf(path, "%s/.write-probe.%ld", dir, (long)getpid());
        if ((descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0)
            return simclr_fail(err, "%s: the folder is not writable (%s)", dir, strerror(errno));
        close(descriptor);
    }
#else
    {
        FILE *probe;
        sprintf(path, "%s/.write-probe", dir);
        if ((probe = fopen(path, "wb")) == NULL)
            return simclr_fail(err, "%s: the folder is not writable (%s)", dir, strerror(errno));
        fclose(probe);
    }
#endif
    remove(path);
    return SIMCLR_OK;
#endif
}

/* ---- the output folder's lock ---------------------------------------------------------------- */

int run_files_lock(const char *dir, char *lock_path, size_t capacity, long *stale_owner,
                   simclr_error *err)
{
    lock_path[0] = '\0';
    *stale_owner = 0;
#ifdef RUN_FILES_POSIX
    {
        char text[32];
        int attempt;
        if (strlen(dir) + 8 > capacity)
            return simclr_fail(err, "'%s' is too long a folder name", dir);
        sprintf(lock_path, "%s/.lock", dir);
        for (attempt = 0; attempt < 2; attempt++) {
            const int descriptor = open(lock_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
            uint8_t *text_read;
            size_t size;
            long owner = 0;
            if (descriptor >= 0) {
                const int length = sprintf(text, "%ld\n", (long)getpid());
                const int written = (int)write(descriptor, text, (size_t)length);
                close(descriptor);
                if (written == length)
                    return SIMCLR_OK;
                remove(lock_path);
                break;
            }
            if (errno != EEXIST)
                break;
            /* the other run's pid (read only from a regular file: a FIFO would block) */
            if (file_read_all(lock_path, 64, &text_read, &size, NULL) == SIMCLR_OK) {
                owner = strtol((const char *)text_read, NULL, 10);
                simclr_free(text_read);
            }
            errno = 0;
            if (owner > 0 && (kill((pid_t)owner, 0) == 0 || errno != ESRCH)) {
                lock_path[0] = '\0';
                return simclr_fail(err, "%s is in use by another run (process %ld, named in "
                                        "%s/.lock): wait for it or choose another --out", dir,
                                   owner, dir);
            }
            *stale_owner = owner; /* 0: an empty or unreadable lock (its run killed early) */
            remove(lock_path);
        }
        {
            const int error = errno;
            lock_path[0] = '\0';
            return simclr_fail(err, "%s: cannot create the lock file %s/.lock (%s)", dir, dir,
                               strerror(error));
        }
    }
#else
    (void)dir, (void)capacity, (void)err;
    return SIMCLR_OK;
#endif
}

void run_files_unlock(char *lock_path)
{
#ifndef SIMCLR_NO_FILES /* (no lock is ever taken without files) */
    if (lock_path[0] != '\0')
        remove(lock_path);
#endif
    lock_path[0] = '\0';
}

int run_files_start(const char *dir, char *lock_path, size_t capacity, long *stale_owner,
                    simclr_error *err)
{
    lock_path[0] = '\0';
    *stale_owner = 0;
    if (run_files_make_folder(dir, err) != SIMCLR_OK ||
        run_files_lock(dir, lock_path, capacity, stale_owner, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (run_files_check_writable(dir, err) != SIMCLR_OK) {
        run_files_unlock(lock_path);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

/* ---- stopping on a signal ------------------------------------------------------------------- */

#ifdef RUN_FILES_NO_SIGNALS
static int stop_signal;

void run_files_catch_signals(void)
{
}
#else
static volatile sig_atomic_t stop_signal;

static void remember_signal(int signal_number)
{
    stop_signal = signal_number;
}

void run_files_catch_signals(void)
{
#ifdef RUN_FILES_POSIX
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = remember_signal;
    action.sa_flags = SA_RESETHAND; /* a second signal ends the process at once */
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
#else
    signal(SIGINT, remember_signal);
    signal(SIGTERM, remember_signal);
#endif
}
#endif

int run_files_signal_caught(void)
{
    return (int)stop_signal;
}
