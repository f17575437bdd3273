/*
 * data/shapes.c — the procedural shapes dataset. What is drawn, and in which order: data/shapes.h.
 */
#include "shapes.h"

#include <math.h>

#include "../nn/rng.h"

static const char *const shapes_names[SHAPES_CLASSES] = {"disc",  "square", "triangle",
                                                         "ring",  "cross",  "diamond"};

const char *shapes_class_name(int label)
{
    return label >= 0 && label < SHAPES_CLASSES ? shapes_names[label] : "unknown";
}

/* Whether the point (x, y), relative to the centre in units of the half-size, is inside. */
static int shapes_inside(int label, double x, double y)
{
    const double ax = fabs(x), ay = fabs(y), r = sqrt(x * x + y * y);
    switch (label) {
    case 0: return r <= 1.0;                                   /* disc */
    case 1: return ax <= 0.8 && ay <= 0.8;                     /* square */
    case 2: return y <= 0.8 && y >= -0.9 && ax <= (0.8 - y) * 0.55; /* triangle, apex down */
    case 3: return r <= 1.0 && r >= 0.55;                      /* ring */
    case 4: return (ax <= 0.28 && ay <= 1.0) || (ay <= 0.28 && ax <= 1.0); /* cross */
    default: return ax + ay <= 1.0;                            /* diamond */
    }
}

int shapes_image(float *image, uint64_t seed, shapes_split split, size_t index, size_t side)
{
    const int label = (int)(index % SHAPES_CLASSES);
    const size_t plane = side * side;
    float background[3], foreground[3];
    double half, centre_x, centre_y;
    rng random;
    size_t c, i, j;
    int a, b;
    rng_stream(&random, seed, RNG_DOMAIN_DATA, (uint64_t)split, (uint64_t)index, 0);
    for (c = 0; c < 3; c++)
        background[c] = rng_uniform(&random);
    for (c = 0; c < 3; c++) {
        float f = rng_uniform(&random);
        if (fabsf(f - background[c]) < 0.3f) /* keep the shape visible */
            f = background[c] + (background[c] < 0.5f ? 0.3f : -0.3f);
        foreground[c] = f;
    }
    half = 0.5 * (double)side * rng_uniform_range(&random, 0.35f, 0.75f);
    centre_x = half + ((double)side - 2.0 * half) * rng_uniform(&random);
    centre_y = half + ((double)side - 2.0 * half) * rng_uniform(&random);
    for (i = 0; i < side; i++)
        for (j = 0; j < side; j++) {
            int hits = 0;
            for (a = 0; a < 4; a++)
                for (b = 0; b < 4; b++) {
                    const double y = ((double)i + (a + 0.5) / 4.0 - centre_y) / half;
                    const double x = ((double)j + (b + 0.5) / 4.0 - centre_x) / half;
                    hits += shapes_inside(label, x, y);
                }
            for (c = 0; c < 3; c++) {
                const float coverage = (float)hits / 16.0f;
                image[c * plane + i * side + j] =
                    coverage * foreground[c] + (1.0f - coverage) * background[c];
            }
        }
    for (i = 0; i < 3 * plane; i++) {
        const float noisy = image[i] + 0.02f * rng_normal(&random);
        image[i] = noisy < 0.0f ? 0.0f : noisy > 1.0f ? 1.0f : noisy;
    }
    return label;
}
