/*
 * data/jpeg.h — reading JPEG images (ITU-T T.81, JFIF) in plain C99: no libjpeg.
 *
 * What is read: baseline, extended-sequential (SOF1, 8- or 16-bit quantisation tables) and
 * progressive DCT with Huffman coding, 8-bit samples, 1 component (gray) or 3 (YCbCr, or RGB
 * when an Adobe APP14 marker says transform 0 or the component ids are 'R', 'G', 'B'), any
 * sampling factors 1..4 whose ratios to the largest are integers (4:4:4, 4:2:2, 4:2:0, 4:4:0,
 * 4:1:1, …), restart intervals; APPn (EXIF, ICC, …) and COM segments skipped. Refused with a
 * message naming the feature: arithmetic coding, 12-bit samples, lossless and hierarchical
 * modes, CMYK/YCCK (4 components), 2 components, a height left to a DNL marker. Strict: a
 * file that ends before its end-of-image marker, or whose data is corrupt, is an error (libjpeg
 * would warn and fill in gray).
 * The pixels are meant to equal libjpeg-turbo's as Pillow uses it (accurate integer IDCT,
 * "fancy" upsampling); what differs, if anything, is stated in data/jpeg.c.
 *
 * Errors name the file (the `name` argument) and the problem, on one line.
 */
#ifndef SIMCLR_DATA_JPEG_H
#define SIMCLR_DATA_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

/* The start-of-image marker FF D8 followed by another marker's FF. */
int jpeg_is_jpeg(const uint8_t *bytes, size_t size);

/* Walks the markers up to the frame header (SOFn) only: the image's size, and *gray = 1 for a
 * 1-component image. Fails if the bytes end before the frame header (the caller may then try
 * again with the whole file), and for a frame that jpeg_decode would refuse (arithmetic
 * coding, 12-bit samples, 4 components, …). */
int jpeg_read_header(const uint8_t *bytes, size_t size, const char *name, size_t *height,
                     size_t *width, int *gray, simclr_error *err);

/* Decodes a whole JPEG file held in memory into *pixels (height, width, channels) u8, allocated
 * with simclr_calloc (freed with simclr_free); channels is 3 (RGB; a gray image's value in all
 * three) or 1 (gray images only). Refuses, before allocating anything but its own state, an
 * image of more than max_pixels pixels. On failure *pixels is NULL. */
int jpeg_decode(const uint8_t *bytes, size_t size, const char *name, size_t channels,
                size_t max_pixels, uint8_t **pixels, /* (height, width, channels) */
                size_t *height, size_t *width, simclr_error *err);

#endif
