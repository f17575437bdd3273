/*
 * data/image_io.c — PNG (stored DEFLATE) and PPM/PGM writers, written atomically.
 * Formats: data/image_io.h; the checksums and the atomic write: data/file_io.h.
 */
#include "image_io.h"

#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/tensor.h"
#include "file_io.h"

static uint8_t to_byte(float x)
{
    const float clamped = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
    return (uint8_t)(clamped * 255.0f + 0.5f);
}

/* A growing byte buffer for one file (the PNG is assembled in memory, then written at once). */
typedef struct byte_buffer {
    uint8_t *bytes;
    size_t used, capacity;
} byte_buffer;

static void put_bytes(byte_buffer *buffer, const void *data, size_t count)
{
    memcpy(buffer->bytes + buffer->used, data, count);
    buffer->used += count;
}

static void put_u32_big_endian(byte_buffer *buffer, uint32_t value)
{
    const uint8_t bytes[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8),
                              (uint8_t)value};
    put_bytes(buffer, bytes, 4);
}

/* A chunk: length, type, data, CRC-32 of type and data. */
static void put_chunk(byte_buffer *buffer, const char *type, const uint8_t *data, size_t count)
{
    const size_t start = buffer->used + 4;
    put_u32_big_endian(buffer, (uint32_t)count);
    put_bytes(buffer, type, 4);
    if (count > 0)
        put_bytes(buffer, data, count);
    put_u32_big_endian(buffer, crc32_update(0, buffer->bytes + start, 4 + count));
}

static int ends_with(const char *text, const char *suffix)
{
    const size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

int image_write(const char *path, const float *image, size_t channels, size_t height,
                size_t width, simclr_error *err)
{
    const size_t plane = height * width;
    const int pnm = ends_with(path, ".ppm") || ends_with(path, ".pgm");
    size_t row_bytes, raw_bytes, blocks, total, i, j, c;
    byte_buffer file = {NULL, 0, 0};
    uint8_t *raw;
    int status;
    if (channels != 1 && channels != 3)
        return simclr_fail(err, "%s: %lu channels (1 or 3 can be written)", path,
                           (unsigned long)channels);
    if (height == 0 || width == 0 || width > 0x7fffffffu / 3 || height > 0x7fffffffu ||
        size_multiply_checked(width, channels, &row_bytes) != SIMCLR_OK ||
        size_multiply_checked(row_bytes + 1, height, &raw_bytes) != SIMCLR_OK ||
        raw_bytes > (size_t)-1 / 2)
        return simclr_fail(err, "%s: a %lux%lu image cannot be written", path,
                           (unsigned long)width, (unsigned long)height);
    if (ends_with(path, ".pgm") && channels != 1)
        return simclr_fail(err, "%s: a PGM file holds 1 channel, the image has 3", path);
    if (ends_with(path, ".ppm") && channels != 3)
        return simclr_fail(err, "%s: a PPM file holds 3 channels, the image has 1", path);

    /* the scanlines, each with filter byte 0 (PNG) or bare (PNM) */
    raw = simclr_calloc(raw_bytes, 1, path, err);
    if (raw == NULL)
        return SIMCLR_FAILED;
    for (i = 0, total = 0; i < height; i++) {
        if (!pnm)
            raw[total++] = 0;
        for (j = 0; j < width; j++)
            for (c = 0; c < channels; c++)
                raw[total++] = to_byte(image[c * plane + i * width + j]);
    }
    if (pnm) {
        char header[64];
        const int length = sprintf(header, "P%c\n%lu %lu\n255\n", channels == 3 ? '6' : '5',
                                   (unsigned long)width, (unsigned long)height);
        file.capacity = (size_t)length + total;
        file.bytes = simclr_calloc(file.capacity, 1, path, err);
        if (file.bytes == NULL) {
            simclr_free(raw);
            return SIMCLR_FAILED;
        }
        put_bytes(&file, header, (size_t)length);
        put_bytes(&file, raw, total);
    } else {
        static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        uint8_t header[13], *zlib;
        size_t zlib_bytes, z = 0, offset;
        blocks = (total + 65534) / 65535;
        zlib_bytes = 2 + blocks * 5 + total + 4;
        file.capacity = 8 + (12 + 13) + (12 + zlib_bytes) + 12;
        file.bytes = simclr_calloc(file.capacity, 1, path, err);
        zlib = simclr_calloc(zlib_bytes, 1, path, err);
        if (file.bytes == NULL || zlib == NULL) {
            simclr_free(raw), simclr_free(file.bytes), simclr_free(zlib);
            return SIMCLR_FAILED;
        }
        /* zlib header: deflate, 32K window, no dictionary, check bits (0x7801 % 31 == 0) */
        zlib[z++] = 0x78;
        zlib[z++] = 0x01;
        for (offset = 0; offset < total; offset += 65535) {
            const size_t n = total - offset < 65535 ? total - offset : 65535;
            zlib[z++] = offset + n == total ? 1 : 0; /* BFINAL, BTYPE = 00 (stored) */
            zlib[z++] = (uint8_t)(n & 0xff);
            zlib[z++] = (uint8_t)(n >> 8);
            zlib[z++] = (uint8_t)(~n & 0xff);
            zlib[z++] = (uint8_t)((~n >> 8) & 0xff);
            memcpy(zlib + z, raw + offset, n);
            z += n;
        }
        {
            const uint32_t adler = adler32_update(1, raw, total);
            zlib[z++] = (uint8_t)(adler >> 24), zlib[z++] = (uint8_t)(adler >> 16);
            zlib[z++] = (uint8_t)(adler >> 8), zlib[z++] = (uint8_t)adler;
        }
        put_bytes(&file, signature, 8);
        header[0] = (uint8_t)(width >> 24), header[1] = (uint8_t)(width >> 16);
        header[2] = (uint8_t)(width >> 8), header[3] = (uint8_t)width;
        header[4] = (uint8_t)(height >> 24), header[5] = (uint8_t)(height >> 16);
        header[6] = (uint8_t)(height >> 8), header[7] = (uint8_t)height;
        header[8] = 8;                          /* bit depth */
        header[9] = channels == 3 ? 2 : 0;      /* colour type: truecolour or grayscale */
        header[10] = header[11] = header[12] = 0; /* deflate, adaptive filtering, no interlace */
        put_chunk(&file, "IHDR", header, 13);
        put_chunk(&file, "IDAT", zlib, z);
        put_chunk(&file, "IEND", NULL, 0);
        simclr_free(zlib);
    }
    status = file_write_atomically(path, file.bytes, file.used, err);
    simclr_free(raw);
    simclr_free(file.bytes);
    return status;
}

/* ---- reading PPM/PGM ---------------------------------------------------------------------- */

#define PNM_MAX_SIDE 65535

/* Skips whitespace and comments; then reads a decimal number (digits only, at most 9). */
static int pnm_number(const uint8_t *bytes, size_t size, size_t *position, long *value)
{
    int digits = 0;
    *value = 0;
    for (;;) {
        while (*position < size && (bytes[*position] == ' ' || bytes[*position] == '\t' ||
                                    bytes[*position] == '\n' || bytes[*position] == '\r'))
            (*position)++;
        if (*position < size && bytes[*position] == '#') {
            while (*position < size && bytes[*position] != '\n')
                (*position)++;
            continue;
        }
        break;
    }
    while (*position < size && bytes[*position] >= '0' && bytes[*position] <= '9') {
        if (++digits > 9)
            return 0;
        *value = *value * 10 + (bytes[(*position)++] - '0');
    }
    return digits > 0;
}

int image_parse_pnm_header(const uint8_t *bytes, size_t size, const char *name,
                           size_t *channels, size_t *height, size_t *width, size_t *offset,
                           simclr_error *err)
{
    size_t position = 2;
    long w, h, maxval;
    if (size < 2 || bytes[0] != 'P' || (bytes[1] != '6' && bytes[1] != '5'))
        return simclr_fail(err, "%s: wrong magic (a binary PPM starts with P6, a PGM with P5)",
                           name);
    if (!pnm_number(bytes, size, &position, &w) || !pnm_number(bytes, size, &position, &h))
        return simclr_fail(err, "%s: the width and height must be positive decimal numbers",
                           name);
    if (w <= 0 || h <= 0 || w > PNM_MAX_SIDE || h > PNM_MAX_SIDE)
        return simclr_fail(err, "%s: a %ldx%ld image is outside 1..%d pixels a side", name, w, h,
                           PNM_MAX_SIDE);
    if (!pnm_number(bytes, size, &position, &maxval))
        return simclr_fail(err, "%s: the header has no maxval", name);
    if (maxval != 255)
        return simclr_fail(err, "%s: maxval %ld (only 255 is read)", name, maxval);
    if (position >= size)
        return simclr_fail(err, "%s: truncated after the header", name);
    *channels = bytes[1] == '6' ? 3 : 1;
    *width = (size_t)w, *height = (size_t)h;
    *offset = position + 1; /* the single whitespace byte that ends the header */
    return SIMCLR_OK;
}

int image_parse_pnm(const uint8_t *bytes, size_t size, const char *name, float **image,
                    size_t *channels, size_t *height, size_t *width, simclr_error *err)
{
    size_t position, count, i, c, plane;
    *image = NULL;
    if (image_parse_pnm_header(bytes, size, name, channels, height, width, &position, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    count = *channels * *width * *height; /* at most 3·65535² < 2^34: checked below on 32-bit */
    if ((double)*channels * (double)*width * (double)*height >
        (double)((size_t)-1 / sizeof(float)))
        return simclr_fail(err, "%s: a %lux%lu image is too large for this machine", name,
                           (unsigned long)*width, (unsigned long)*height);
    if (size - position != count)
        return simclr_fail(err, "%s: %s: the header gives %lu bytes of pixels, the file has %lu",
                           name, size - position < count ? "truncated" : "trailing bytes",
                           (unsigned long)count, (unsigned long)(size - position));
    *image = simclr_calloc(count, sizeof(float), name, err);
    if (*image == NULL)
        return SIMCLR_FAILED;
    plane = *width * *height;
    for (i = 0; i < plane; i++) /* interleaved RGB → planes */
        for (c = 0; c < *channels; c++)
            (*image)[c * plane + i] = (float)bytes[position + i * *channels + c] / 255.0f;
    return SIMCLR_OK;
}

int image_read_pnm(const char *path, float **image, size_t *channels, size_t *height,
                   size_t *width, simclr_error *err)
{
    uint8_t *bytes;
    size_t size;
    int status;
    *image = NULL;
    if (file_read_all(path, (size_t)3 * PNM_MAX_SIDE * PNM_MAX_SIDE + 4096, &bytes, &size, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    status = image_parse_pnm(bytes, size, path, image, channels, height, width, err);
    simclr_free(bytes);
    return status;
}
