/*
 * data/image_file.c — an image file of any supported format, told by content; see
 * image_file.h.
 */
#include "image_file.h"

#include <ctype.h>
#include <string.h>

#include "../nn/memory.h"
#include "file_io.h"
#include "image_io.h"
#include "jpeg.h"
#include "png.h"

/* Enough for every PNG and PPM header and for JPEGs without a large EXIF or ICC segment before
 * the frame header; a JPEG whose header lies further in is read again with more. */
#define IMAGE_HEADER_BYTES 4096

int image_file_has_image_extension(const char *name)
{
    static const char *const extensions[] = {".png", ".jpg", ".jpeg", ".ppm", ".pgm"};
    const size_t n = strlen(name);
    size_t e, i;
    for (e = 0; e < sizeof extensions / sizeof extensions[0]; e++) {
        const size_t m = strlen(extensions[e]);
        if (n <= m)
            continue;
        for (i = 0; i < m; i++)
            if (tolower((unsigned char)name[n - m + i]) != extensions[e][i])
                break;
        if (i == m)
            return 1;
    }
    return 0;
}

static int is_pnm(const uint8_t *bytes, size_t size)
{
    return size >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6');
}

/* The format and header of the bytes (a prefix of the file, or all of it). */
static int info_from_bytes(const uint8_t *bytes, size_t size, const char *name,
                           image_info *info, simclr_error *err)
{
    if (png_is_png(bytes, size)) {
        info->format = IMAGE_PNG;
        return png_read_header(bytes, size, name, &info->height, &info->width, &info->gray, err);
    }
    if (jpeg_is_jpeg(bytes, size)) {
        info->format = IMAGE_JPEG;
        return jpeg_read_header(bytes, size, name, &info->height, &info->width, &info->gray,
                                err);
    }
    if (is_pnm(bytes, size)) {
        size_t channels, offset;
        info->format = IMAGE_PNM;
        if (image_parse_pnm_header(bytes, size, name, &channels, &info->height, &info->width,
                                   &offset, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        info->gray = channels == 1;
        return SIMCLR_OK;
    }
    return simclr_fail(err, "%s: not a PNG, JPEG, PPM or PGM image (by its first bytes)", name);
}

static int check_pixels(const image_info *info, const char *name, simclr_error *err)
{
    if (info->height == 0 || info->width == 0)
        return simclr_fail(err, "%s: an image of %lux%lu pixels", name,
                           (unsigned long)info->width, (unsigned long)info->height);
    if (info->width > IMAGE_MAX_PIXELS / info->height)
        return simclr_fail(err, "%s: %lux%lu pixels is more than the %lu accepted", name,
                           (unsigned long)info->width, (unsigned long)info->height,
                           (unsigned long)IMAGE_MAX_PIXELS);
    return SIMCLR_OK;
}

int image_file_info(const char *path, image_info *info, simclr_error *err)
{
    uint8_t start[IMAGE_HEADER_BYTES], *bytes = start;
    size_t size, file_size, capacity = sizeof start;
    int status;
    memset(info, 0, sizeof *info);
    for (;;) {
        status = file_read_prefix(path, bytes, capacity, &size, &file_size, err);
        if (status == SIMCLR_OK)
            status = info_from_bytes(bytes, size, path, info, err);
        if (bytes != start)
            simclr_free(bytes);
        /* a JPEG whose frame header lies beyond the bytes read (behind EXIF, ICC, a
         * thumbnail): 64 KiB, then 1 MiB, then the whole file */
        if (status == SIMCLR_OK || info->format != IMAGE_JPEG || size >= file_size ||
            capacity > IMAGE_MAX_FILE_BYTES / 16)
            break;
        capacity = capacity < 65536              ? 65536
                   : capacity < ((size_t)1 << 20) ? (size_t)1 << 20
                   : file_size < IMAGE_MAX_FILE_BYTES ? file_size
                                                      : IMAGE_MAX_FILE_BYTES;
        bytes = simclr_calloc(capacity, 1, path, err);
        if (bytes == NULL)
            return SIMCLR_FAILED;
    }
    return status == SIMCLR_OK ? check_pixels(info, path, err) : SIMCLR_FAILED;
}

int image_bytes_decode(const uint8_t *bytes, size_t size, const char *name, size_t channels,
                       uint8_t **pixels, size_t *height, size_t *width, simclr_error *err)
{
    image_info info;
    *pixels = NULL;
    if (channels != 1 && channels != 3)
        return simclr_fail(err, "%s: %lu channels asked (1 or 3)", name, (unsigned long)channels);
    if (info_from_bytes(bytes, size, name, &info, err) != SIMCLR_OK ||
        check_pixels(&info, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (channels == 1 && !info.gray)
        return simclr_fail(err, "%s: a colour image where gray ones were expected", name);
    if (info.format == IMAGE_PNG)
        return png_decode(bytes, size, name, channels, IMAGE_MAX_PIXELS, pixels, height, width,
                          err);
    if (info.format == IMAGE_JPEG)
        return jpeg_decode(bytes, size, name, channels, IMAGE_MAX_PIXELS, pixels, height, width,
                           err);
    {   /* PPM/PGM: the bytes after the header are the pixels, interleaved already */
        size_t file_channels, offset, count, i;
        if (image_parse_pnm_header(bytes, size, name, &file_channels, height, width, &offset,
                                   err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        count = file_channels * *height * *width; /* ≤ 3 · IMAGE_MAX_PIXELS: checked above */
        if (size - offset != count)
            return simclr_fail(err, "%s: %s: the header gives %lu bytes of pixels, the file has "
                                    "%lu", name, size - offset < count ? "truncated" :
                                    "trailing bytes", (unsigned long)count,
                               (unsigned long)(size - offset));
        *pixels = simclr_calloc(*height * *width, channels, name, err);
        if (*pixels == NULL)
            return SIMCLR_FAILED;
        if (file_channels == channels)
            memcpy(*pixels, bytes + offset, count);
        else /* a PGM as RGB: the gray value in every channel, as Pillow's convert("RGB") */
            for (i = 0; i < *height * *width; i++)
                (*pixels)[3 * i] = (*pixels)[3 * i + 1] = (*pixels)[3 * i + 2] = bytes[offset + i];
        return SIMCLR_OK;
    }
}

int image_file_decode(const char *path, size_t channels, uint8_t **pixels, size_t *height,
                      size_t *width, simclr_error *err)
{
    uint8_t *bytes;
    size_t size;
    int status;
    *pixels = NULL;
    if (file_read_all(path, IMAGE_MAX_FILE_BYTES, &bytes, &size, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = image_bytes_decode(bytes, size, path, channels, pixels, height, width, err);
    simclr_free(bytes);
    return status;
}
