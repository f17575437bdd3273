/*
 * tests/test_helpers.h — small helpers shared by the Criterion tests.
 */
#ifndef SIMCLR_TEST_HELPERS_H
#define SIMCLR_TEST_HELPERS_H

#include <glob.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "simclr.h"

/* The one wall-clock limit of the suite: a hang guard, never a speed requirement. A test that
 * runs the program or trains carries `.timeout = HANG_GUARD_SECONDS` (Criterion kills it and
 * fails it after that long), and a command a test expects to return at once runs under
 * `timeout HANG_GUARD_TEXT`. 30 minutes is many times the slowest test under ASan + UBSan
 * (tests/check_sanitize.sh) on a machine whose cores are all busy with other work: the suite
 * passes on a loaded machine, and a hang still ends. */
#define HANG_GUARD_SECONDS 1800
#define HANG_GUARD_TEXT "1800"

/* Fills x[0..count) with uniform values on [low, high) from the stream (seed, "data", tag). */
static inline void test_fill_uniform(float *x, size_t count, float low, float high,
                                     unsigned long tag)
{
    rng random;
    size_t i;
    rng_stream(&random, 12345, RNG_DOMAIN_DATA, tag, 0, 0);
    for (i = 0; i < count; i++)
        x[i] = rng_uniform_range(&random, low, high);
}

/* A whole file into a new buffer (free it with free), one spare byte past its *size bytes. Only
 * for the tests' own fixtures: a missing or short file fails the test. */
#define test_load_file(path, size) test_load_file_at(path, size, __FILE__, __LINE__)
static inline uint8_t *test_load_file_at(const char *path, size_t *size, const char *file_name,
                                         int line)
{
    FILE *file = fopen(path, "rb");
    uint8_t *bytes;
    long length;
    if (file == NULL || fseek(file, 0, SEEK_END) != 0 || (length = ftell(file)) < 0 ||
        fseek(file, 0, SEEK_SET) != 0 || (bytes = malloc((size_t)length + 1)) == NULL ||
        fread(bytes, 1, (size_t)length, file) != (size_t)length) {
        fprintf(stderr, "%s:%d: cannot read the fixture %s\n", file_name, line, path);
        abort();
    }
    fclose(file);
    *size = (size_t)length;
    return bytes;
}

/* How many temporary files of an atomic write of `path` ("<path>.tmp…") are left beside it. */
static inline size_t test_leftover_temporaries(const char *path)
{
    char pattern[4200];
    glob_t found;
    size_t count;
    snprintf(pattern, sizeof pattern, "%s.tmp*", path);
    if (glob(pattern, 0, NULL, &found) != 0)
        return 0;
    count = found.gl_pathc;
    globfree(&found);
    return count;
}

#endif
