/*
 * eval/golden_streams.h — reference cases of the random streams and of the seeded view
 * pipeline, for implementations that reproduce our draws (see golden.h for the case format and
 * DIR/README.txt for the algorithms, stated there in full):
 *
 *   rng     one stream rng_stream(seed, domain, a, b, c) (nn/rng.h): the PCG32 state and
 *           increment right after seeding, its first 16 next_u32(), and from fresh copies of
 *           the stream 16 uniform(), 8 normal(), 8 randint(0, n) for n = 2, 3, 10, 1000 and a
 *           colour-jitter draw (the Fisher–Yates order and the four factors)
 *   init    the initial state of a small SimCLR model (ResNet-18 at width 1/16, CIFAR stem, and
 *           a 2-layer head 16 → 8) drawn from a seed by torchvision's initialisation
 *   view    the two views of (seed, epoch, image) for one preset, with every parameter each view
 *           drew: crop window, flips, jitter (applied, order, factors), grayscale, blur (applied,
 *           σ, kernel); images: a Fashion-MNIST test image (when the dataset is installed), a
 *           built-in shapes image, an RGB image of odd size (41 × 29)
 */
#ifndef SIMCLR_EVAL_GOLDEN_STREAMS_H
#define SIMCLR_EVAL_GOLDEN_STREAMS_H

#include "golden_case.h"

/* Where the view cases look for Fashion-MNIST (as the tests and data/idx.h do). */
#define GOLDEN_FASHION_MNIST "/usr/share/datasets/fashion-mnist"

/* The rng cases (each stream of the list in golden_streams.c). */
int golden_rng_cases(golden_case *g);

/* The init case. */
int golden_init_case(golden_case *g);

/* The view cases: every preset for each image. */
int golden_view_cases(golden_case *g);

/* The text README.txt gives these three ops. */
void golden_streams_readme(golden_case *g);

#endif
