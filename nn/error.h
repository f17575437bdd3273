/*
 * nn/error.h — errors as values.
 *
 * Library functions never print, never exit and never call rand(). A function that can fail returns
 * an int status, SIMCLR_OK (0) on success and SIMCLR_FAILED (-1) otherwise, and writes a
 * human-readable reason into a caller-owned simclr_error. Only the command-line program prints
 * that reason and chooses an exit code.
 *
 *     simclr_error err;
 *     if (tensor_create(&t, 2, shape, &err) != SIMCLR_OK)
 *         fprintf(stderr, "simclr: %s\n", err.message);
 *
 * The error pointer may be NULL when the caller does not want the reason.
 */
#ifndef SIMCLR_NN_ERROR_H
#define SIMCLR_NN_ERROR_H

#include <stddef.h>

#define SIMCLR_OK 0
#define SIMCLR_FAILED (-1)

typedef struct simclr_error {
    char message[512]; /* NUL-terminated reason; longer reasons are truncated */
} simclr_error;

/* Formats the reason into err (if not NULL) like printf and returns SIMCLR_FAILED, so that
 * a failing path reads `return simclr_fail(err, "tensor: %s", why);`. An argument may point
 * into err->message itself (`simclr_fail(err, "%s: %s", path, err->message)`). */
int simclr_fail(simclr_error *err, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Copies `text` into out (NUL-terminated, cut at size) with every control byte (below 0x20,
 * and 0x7f) written as \xNN, so that a name taken from a file prints on one line; returns
 * out. Every message that prints a name read from a file (archive members, tensor and
 * metadata keys, file names) passes it through this. */
const char *simclr_escape(char *out, size_t size, const char *text);

#endif
