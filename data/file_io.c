/*
 * data/file_io.c — whole files in and out (atomically), CRC-32 and Adler-32.
 * Conventions and known answers: data/file_io.h.
 */
#include "file_io.h"

#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"

int file_read_all(const char *path, size_t max_bytes, uint8_t **bytes, size_t *size,
                  simclr_error *err)
{
    FILE *file = fopen(path, "rb");
    long length;
    *bytes = NULL;
    *size = 0;
    if (file == NULL)
        return simclr_fail(err, "%s: cannot open the file", path);
    if (fseek(file, 0, SEEK_END) != 0 || (length = ftell(file)) < 0 || fseek(file, 0, SEEK_SET) != 0) {
        fclose(file);
        return simclr_fail(err, "%s: cannot tell the file's size", path);
    }
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

int file_write_atomically(const char *path, const uint8_t *bytes, size_t count,
                          simclr_error *err)
{
    char temporary[4096];
    FILE *file;
    if (strlen(path) + 5 > sizeof temporary)
        return simclr_fail(err, "%s: the path is too long", path);
    sprintf(temporary, "%s.tmp", path);
    file = fopen(temporary, "wb");
    if (file == NULL)
        return simclr_fail(err, "%s: cannot create the file", temporary);
    if (fwrite(bytes, 1, count, file) != count || fflush(file) != 0) {
        fclose(file);
        remove(temporary);
        return simclr_fail(err, "%s: write failed (disk full?)", path);
    }
    if (fclose(file) != 0 || rename(temporary, path) != 0) {
        remove(temporary);
        return simclr_fail(err, "%s: cannot move the finished file into place", path);
    }
    return SIMCLR_OK;
}

uint32_t crc32_update(uint32_t crc, const uint8_t *bytes, size_t count)
{
    size_t i;
    int bit;
    crc = ~crc;
    for (i = 0; i < count; i++) {
        crc ^= bytes[i];
        for (bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint32_t adler32_update(uint32_t adler, const uint8_t *bytes, size_t count)
{
    uint32_t a = adler & 0xffffu, b = adler >> 16;
    size_t i;
    for (i = 0; i < count; i++) {
        a = (a + bytes[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}
