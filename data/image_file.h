/*
 * data/image_file.h — one image file of any format this project reads, told by its content
 * (not its name, as Pillow does): PNG (data/png.h), JPEG (data/jpeg.h), binary PPM/PGM
 * (data/image_io.h).
 *
 * Two steps, so that a folder of a million images opens quickly: image_file_info reads only the
 * start of the file (its size and whether it is gray), image_file_decode the whole file when
 * the pixels are needed. Pixels are u8, (height, width, channels) interleaved, as Pillow's
 * .convert("RGB") (channels 3) or .convert("L") (channels 1, gray images only) gives them.
 *
 * An image of more than IMAGE_MAX_PIXELS pixels is refused before anything is allocated
 * (Pillow's own decompression-bomb threshold, 89,478,485 pixels, e.g. 9459 × 9459), and so is a
 * file of more than IMAGE_MAX_FILE_BYTES. Errors name the file and the problem, on one line.
 */
#ifndef SIMCLR_DATA_IMAGE_FILE_H
#define SIMCLR_DATA_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

#define IMAGE_MAX_PIXELS ((size_t)89478485)
#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

typedef enum image_format { IMAGE_PNM, IMAGE_PNG, IMAGE_JPEG } image_format;

typedef struct image_info {
    image_format format;
    size_t height, width;
    int gray; /* 1: no colour (PGM, gray PNG, 1-component JPEG): a 1-channel output is exact */
} image_info;

/* Does the file's name end in one of the extensions this project reads (.png, .jpg, .jpeg,
 * .ppm, .pgm, any case)? Folders of images are listed by name; the format is then told by
 * content. */
int image_file_has_image_extension(const char *name);

/* The format, size and grayness of an image file, from its first bytes. */
int image_file_info(const char *path, image_info *info, simclr_error *err);

/* The whole image: *pixels (height, width, channels) u8, freed with simclr_free. */
int image_file_decode(const char *path, size_t channels, uint8_t **pixels, size_t *height,
                      size_t *width, simclr_error *err);

/* The same from the file's bytes in memory; `name` names them in errors. */
int image_bytes_decode(const uint8_t *bytes, size_t size, const char *name, size_t channels,
                       uint8_t **pixels, size_t *height, size_t *width, simclr_error *err);

#endif
