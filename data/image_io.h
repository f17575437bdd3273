/*
 * data/image_io.h — writing images for people to look at: PNG (any browser or viewer) and
 * binary PPM/PGM (P6/P5, maxval 255); reading PPM/PGM (reading PNG and JPEG: data/png.h,
 * data/jpeg.h; any of the three by content: data/image_file.h).
 *
 * PNG (ISO/IEC 15948, RFC 2083): signature, IHDR (8-bit RGB or grayscale, no interlace), one
 * IDAT holding a zlib stream (RFC 1950) of *stored* DEFLATE blocks (RFC 1951 §3.2.4: no
 * compression, so no zlib is needed) over the scanlines, each preceded by filter type 0, with the
 * Adler-32 of the scanlines; IEND. Every chunk carries the CRC-32 of its type and data (both
 * checksums: data/file_io.h).
 *
 * Pixels come as float CHW in [0, 1] and are stored as round(255·clamp(x, 0, 1)).
 * Files are written to "<path>.tmp" and renamed over <path> only when complete, so a reader
 * never sees half a file (file_write_atomically, data/file_io.h). Errors name the file and the
 * problem.
 */
#ifndef SIMCLR_DATA_IMAGE_IO_H
#define SIMCLR_DATA_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

/* Reads a binary PPM (P6) or PGM (P5) with maxval 255: *image (C, H, W) in [0, 1], allocated
 * with simclr_calloc. The header is "P6" or "P5", width, height, maxval as decimal numbers
 * separated by whitespace (comments from '#' to the end of a line allowed), one whitespace
 * byte, then exactly W·H·C bytes. Rejected, naming the file: wrong magic, a missing, negative,
 * zero or huge (> 65535) dimension, maxval other than 255, data shorter or longer than the
 * header says. */
int image_read_pnm(const char *path, float **image, size_t *channels, size_t *height,
                   size_t *width, simclr_error *err);

/* The same from bytes in memory; `name` names the source in errors. */
int image_parse_pnm(const uint8_t *bytes, size_t size, const char *name, float **image,
                    size_t *channels, size_t *height, size_t *width, simclr_error *err);

/* The header alone: channels (3 for P6, 1 for P5), size, and *offset = where the pixels start
 * (the same checks as above except the data's length). */
int image_parse_pnm_header(const uint8_t *bytes, size_t size, const char *name,
                           size_t *channels, size_t *height, size_t *width, size_t *offset,
                           simclr_error *err);

/* Writes a C-channel (1 or 3) image as PNG, or as PPM/PGM when the path ends in .ppm/.pgm. */
int image_write(const char *path, const float *image, /* (C, H, W) in [0, 1] */
                size_t channels, size_t height, size_t width, simclr_error *err);

#endif
