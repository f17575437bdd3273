/*
 * data/shapes.h — the built-in dataset "builtin:shapes": small RGB images of simple shapes,
 * generated deterministically from a seed, with no files at all.
 *
 * Six classes: 0 disc, 1 square, 2 triangle, 3 ring, 4 cross, 5 diamond. Image i of a split is
 * drawn from rng_stream(seed, "data", split, i, 0) in this order: background colour (3 uniforms),
 * foreground colour (3 uniforms, then pushed away from the background so the shape is visible:
 * every channel moves by at least 0.3 in the direction with room), size = side·uniform(0.35, 0.75),
 * centre (2 uniforms, the shape kept inside), then one normal(0, 0.02) of noise per pixel and
 * channel; the label is i mod 6, so classes are balanced. Each pixel's shape coverage is the
 * mean over a 4×4 grid of sub-pixel samples (soft, antialiased edges).
 *
 * The class is the shape, never the colour, size or position — the invariances SimCLR's
 * augmentations teach (crop, colour jitter) are exactly the nuisances here, so a linear probe on
 * learned features can tell whether the encoder learned shape over colour.
 */
#ifndef SIMCLR_DATA_SHAPES_H
#define SIMCLR_DATA_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#define SHAPES_CLASSES 6
#define SHAPES_TRAIN_COUNT 12000 /* images in the training split */
#define SHAPES_TEST_COUNT 2400   /* images in the test split */
#define SHAPES_SIDE 32           /* the default side */

typedef enum shapes_split { SHAPES_TRAIN = 0, SHAPES_TEST = 1 } shapes_split;

/* The class names, "disc" … "diamond". */
const char *shapes_class_name(int label);

/* Image `index` of `split` as float CHW in [0, 1]; returns its label. */
int shapes_image(float *image, /* (3, side, side) */
                 uint64_t seed, shapes_split split, size_t index, size_t side);

#endif
