/*
 * aug/preview.h — a grid for people to look at what the augmentations do: one row per image,
 * the original (resized to the view size) followed by V augmented views as training draws them
 * (view v of image i from the stream (seed, "view", epoch 0, i, v)), without the final
 * normalisation so that colours stay viewable; white gaps of 2 pixels between the cells and an
 * extra gap after the original.
 */
#ifndef SIMCLR_AUG_PREVIEW_H
#define SIMCLR_AUG_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "../data/dataset.h"
#include "../nn/error.h"
#include "pipeline.h"

/* *grid (channels, *height, *width) in [0, 1], allocated with simclr_calloc, of the first n
 * images of data (fewer if data has fewer). */
int aug_preview_grid(float **grid, size_t *height, size_t *width, const dataset *data, size_t n,
                     size_t views, const aug_config *config, uint64_t seed, simclr_error *err);

/* The same grid written to `path` (PNG, or PPM/PGM for .ppm/.pgm), its size in *height and
 * *width. */
int aug_preview_write(const char *path, size_t *height, size_t *width, const dataset *data,
                      size_t n, size_t views, const aug_config *config, uint64_t seed,
                      simclr_error *err);

#endif
