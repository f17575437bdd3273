/*
 * data/png.h — reading PNG images (ISO/IEC 15948) in plain C99, with the project's own DEFLATE
 * (data/inflate.h) and checksums (data/file_io.h): no libpng, no zlib.
 *
 * What is read: every colour type (0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA) at every
 * bit depth the format allows (1, 2, 4, 8, 16), Adam7 interlacing, the five scanline filters,
 * CRC-32 of every chunk and Adler-32 of the zlib stream checked; ancillary chunks skipped.
 * The pixels come out as Pillow gives them after .convert("RGB") (3 channels) or .convert("L")
 * (1 channel, gray images only): alpha dropped, palette expanded, low bit depths scaled to
 * 0..255, 16-bit samples reduced to 8 exactly as Pillow does (details in data/png.c).
 *
 * Errors name the file (the `name` argument) and the problem, on one line.
 */
#ifndef SIMCLR_DATA_PNG_H
#define SIMCLR_DATA_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

/* The PNG signature: 89 50 4E 47 0D 0A 1A 0A. */
int png_is_png(const uint8_t *bytes, size_t size);

/* Reads the signature and IHDR only: the image's size, and *gray = 1 when it has no colour
 * (colour types 0 and 4), so a 1-channel output is exact. Needs only the first 33 bytes. */
int png_read_header(const uint8_t *bytes, size_t size, const char *name, size_t *height,
                    size_t *width, int *gray, simclr_error *err);

/* Decodes a whole PNG file held in memory into *pixels (height, width, channels) u8, allocated
 * with simclr_calloc (freed with simclr_free); channels is 3 (RGB) or 1 (gray images only).
 * Refuses, before allocating, an image of more than max_pixels pixels. On failure *pixels is
 * NULL, *height and *width are left as they were, and nothing stays allocated. */
int png_decode(const uint8_t *bytes, size_t size, const char *name, size_t channels,
               size_t max_pixels, uint8_t **pixels, /* (height, width, channels) */
               size_t *height, size_t *width, simclr_error *err);

#endif
