/*
 * tests/test_layers.c — every layer of nn/ against its definition.
 *
 * Forward: the fast path against the definition evaluated in double (tests/reference_layers.h),
 * normwise relative difference <= 1e-5 (float rounding of sums of at most a few hundred terms).
 * Backward: against central differences of the double definition of L = Σ r ⊙ y for a fixed
 * random r (tests/gradient_check.h), tolerance 1e-5 normwise. Parameter gradients accumulate, so
 * they start from a nonzero value that the test subtracts again. Convolution's naive adjoint
 * (conv2d_backward_naive) is held to the same central differences, and the fast backward to it
 * (normwise 1e-5: float sums of at most a few thousand terms against double ones), on every
 * convolution shape below.
 * Shapes include odd and non-square sizes, stride 2, padding 0 and > 0, batch 1, 1×1 kernels.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradient_check.h"
#include "reference_layers.h"
#include "test_helpers.h"
#include "nn/parallel.h"
#include "nn/winograd_internal.h" /* winograd_backward */

static float *random_floats(size_t count, float low, float high, unsigned long tag)
{
    float *x = malloc((count ? count : 1) * sizeof(float));
    cr_assert_not_null(x);
    test_fill_uniform(x, count, low, high, tag);
    return x;
}

/* ---- conv2d ----------------------------------------------------------------------------- */

/* The normwise relative difference of two float results, max|a − b| / max|b|. */
static double float_difference(const float *a, const float *b, size_t count)
{
    double worst = 0.0, largest = 0.0;
    size_t i;
    for (i = 0; i < count; i++) {
        if (fabs((double)b[i]) > largest)
            largest = fabs((double)b[i]);
        if (fabs((double)a[i] - b[i]) > worst)
            worst = fabs((double)a[i] - b[i]);
    }
    return worst / fmax(largest, 1e-30);
}

typedef struct conv_case {
    size_t B, C, H, W, O, k, s, p;
    int bias;
} conv_case;

typedef struct conv_context {
    conv_case c;
    size_t Ho, Wo;
    double *x, *w, *b, *r, *y;
} conv_context;

static double conv_loss(void *context)
{
    conv_context *t = context;
    const size_t out = t->c.B * t->c.O * t->Ho * t->Wo;
    reference_conv2d(t->y, t->x, t->w, t->c.bias ? t->b : NULL, t->c.B, t->c.C, t->c.H, t->c.W,
                     t->c.O, t->c.k, t->c.s, t->c.p);
    return reference_dot(t->y, t->r, out);
}

static void check_conv_limited(conv_case c, unsigned long tag, size_t limit)
{
    conv2d_shape shape;
    simclr_error err;
    size_t workspace_floats, in_count, out_count, weight_count, i;
    float *x, *w, *b, *y, *y_naive, *dy, *dx, *dw, *db, *workspace, *dx_naive, *dw_naive, *db_naive;
    conv_context t;
    char what[128];
    cr_assert_eq(conv2d_shape_init(&shape, c.B, c.C, c.H, c.W, c.O, c.k, c.s, c.p, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(conv2d_workspace_floats(&shape, &workspace_floats, &err), SIMCLR_OK);
    in_count = c.B * c.C * c.H * c.W;
    out_count = c.B * c.O * shape.out_height * shape.out_width;
    weight_count = c.O * c.C * c.k * c.k;
    x = random_floats(in_count, -1, 1, tag);
    w = random_floats(weight_count, -1, 1, tag + 1);
    b = random_floats(c.O, -1, 1, tag + 2);
    dy = random_floats(out_count, -1, 1, tag + 3);
    y = malloc(out_count * sizeof(float));
    y_naive = malloc(out_count * sizeof(float));
    dx = malloc(in_count * sizeof(float));
    dw = malloc(weight_count * sizeof(float));
    db = malloc(c.O * sizeof(float));
    dx_naive = malloc(in_count * sizeof(float));
    dw_naive = malloc(weight_count * sizeof(float));
    db_naive = malloc(c.O * sizeof(float));
    workspace = malloc(workspace_floats * sizeof(float));

    t.c = c;
    t.Ho = shape.out_height;
    t.Wo = shape.out_width;
    t.x = reference_from_float(x, in_count);
    t.w = reference_from_float(w, weight_count);
    t.b = reference_from_float(b, c.O);
    t.r = reference_from_float(dy, out_count);
    t.y = malloc(out_count * sizeof(double));
    sprintf(what, "conv B=%zu C=%zu %zux%zu O=%zu k=%zu s=%zu p=%zu bias=%d", c.B, c.C, c.H, c.W,
            c.O, c.k, c.s, c.p, c.bias);

    /* forward: the fast path and the 7-loop reference against the double definition */
    conv2d_forward(y, x, w, c.bias ? b : NULL, &shape, workspace);
    conv2d_forward_naive(y_naive, x, w, c.bias ? b : NULL, &shape);
    conv_loss(&t);
    cr_expect_leq(relative_difference(y, t.y, out_count), 1e-5, "%s: forward", what);
    cr_expect_leq(relative_difference(y_naive, t.y, out_count), 1e-5, "%s: naive", what);

    /* backward: parameter gradients accumulate onto 0.5 / 0.25 */
    for (i = 0; i < weight_count; i++)
        dw[i] = 0.5f;
    for (i = 0; i < c.O; i++)
        db[i] = 0.25f;
    conv2d_backward(dx, dw, c.bias ? db : NULL, dy, x, w, &shape, workspace);
    for (i = 0; i < weight_count; i++)
        dw[i] -= 0.5f;
    for (i = 0; i < c.O; i++)
        db[i] -= 0.25f;
    check_gradient(what, t.x, in_count, dx, conv_loss, &t, 1e-5, limit);
    check_gradient(what, t.w, weight_count, dw, conv_loss, &t, 1e-5, limit);
    if (c.bias)
        check_gradient(what, t.b, c.O, db, conv_loss, &t, 1e-5, 0);

    /* the naive adjoint: the same conventions (dx overwritten, so it starts as garbage; dw and
     * db accumulate), against the same central differences and against conv2d_backward */
    for (i = 0; i < in_count; i++)
        dx_naive[i] = 1e30f;
    for (i = 0; i < weight_count; i++)
        dw_naive[i] = 0.5f;
    for (i = 0; i < c.O; i++)
        db_naive[i] = 0.25f;
    conv2d_backward_naive(dx_naive, dw_naive, c.bias ? db_naive : NULL, dy, x, w, &shape);
    for (i = 0; i < weight_count; i++)
        dw_naive[i] -= 0.5f;
    for (i = 0; i < c.O; i++)
        db_naive[i] -= 0.25f;
    check_gradient(what, t.x, in_count, dx_naive, conv_loss, &t, 1e-5, limit);
    check_gradient(what, t.w, weight_count, dw_naive, conv_loss, &t, 1e-5, limit);
    if (c.bias)
        check_gradient(what, t.b, c.O, db_naive, conv_loss, &t, 1e-5, 0);
    cr_expect_leq(float_difference(dx, dx_naive, in_count), 1e-5, "%s: dx fast vs naive", what);
    cr_expect_leq(float_difference(dw, dw_naive, weight_count), 1e-5, "%s: dweight fast vs naive",
                  what);
    if (c.bias)
        cr_expect_leq(float_difference(db, db_naive, c.O), 1e-5, "%s: dbias fast vs naive", what);

    free(x), free(w), free(b), free(y), free(y_naive), free(dy), free(dx), free(dw), free(db);
    free(workspace), free(t.x), free(t.w), free(t.b), free(t.r), free(t.y);
    free(dx_naive), free(dw_naive), free(db_naive);
}

static void check_conv(conv_case c, unsigned long tag) { check_conv_limited(c, tag, 400); }

Test(conv2d, odd_non_square_padding_1_with_bias) { check_conv((conv_case){2, 3, 7, 5, 4, 3, 1, 1, 1}, 100); }
Test(conv2d, stride_2_padding_1_batch_1) { check_conv((conv_case){1, 2, 9, 9, 3, 3, 2, 1, 0}, 110); }
Test(conv2d, stride_2_padding_0) { check_conv((conv_case){3, 2, 5, 6, 3, 3, 2, 0, 1}, 120); }
Test(conv2d, pointwise_1x1_batched) { check_conv((conv_case){3, 4, 6, 7, 5, 1, 1, 0, 0}, 130); }
Test(conv2d, pointwise_1x1_stride_2) { check_conv((conv_case){2, 4, 7, 7, 3, 1, 2, 0, 0}, 140); }
/* 48×48 = 2304 output columns per image: one image per GEMM, and 1×1 uses the image as col */
Test(conv2d, pointwise_1x1_large_image_skips_im2col) { check_conv((conv_case){2, 2, 48, 48, 3, 1, 1, 0, 1}, 150); }
/* 30×30 = 900 columns: chunks of 3 images, so 4 images make a full chunk and a partial one */
Test(conv2d, several_chunks_with_a_remainder) { check_conv((conv_case){4, 2, 30, 30, 3, 3, 1, 1, 0}, 160); }
/* a 1×1 kernel over padding (the border outputs see only zeros and the bias), stride 2, batch 1 */
Test(conv2d, pointwise_1x1_stride_2_padding_1_batch_1) { check_conv((conv_case){1, 3, 6, 5, 2, 1, 2, 1, 1}, 175); }
Test(conv2d, stem_7x7_stride_2_padding_3) { check_conv((conv_case){2, 3, 11, 10, 4, 7, 2, 3, 0}, 170); }

/* 3×3, stride 1, padding 1 with at least 16 channels each way: Winograd F(2×2, 3×3) forward
 * and F(4×4, 3×3) backward (nn/winograd_internal.h, nn/winograd_backward.c), held to the same definition
 * and the same tolerances. */
static conv2d_shape shape_of(size_t B, size_t C, size_t H, size_t W, size_t O, size_t k,
                             size_t s, size_t p)
{
    conv2d_shape shape;
    simclr_error err;
    cr_assert_eq(conv2d_shape_init(&shape, B, C, H, W, O, k, s, p, &err), SIMCLR_OK);
    return shape;
}

Test(conv2d, winograd_takes_the_3x3_stride_1_layers_of_resnet)
{
    conv2d_shape s64 = shape_of(2, 64, 32, 32, 64, 3, 1, 1), s512 = shape_of(2, 512, 4, 4, 512, 3, 1, 1);
    conv2d_shape stem = shape_of(2, 3, 32, 32, 64, 3, 1, 1), down = shape_of(2, 64, 32, 32, 128, 3, 2, 1);
    conv2d_shape pointwise = shape_of(2, 64, 32, 32, 128, 1, 1, 0);
    cr_expect(winograd_applies(&s64) && winograd_applies(&s512));
    cr_expect(!winograd_applies(&stem), "3 input channels stay on im2col");
    cr_expect(!winograd_applies(&down) && !winograd_applies(&pointwise));
}

Test(conv2d, winograd_odd_non_square_with_bias)
{
    conv2d_shape s = shape_of(2, 16, 7, 5, 16, 3, 1, 1);
    cr_assert(winograd_applies(&s));
    check_conv((conv_case){2, 16, 7, 5, 16, 3, 1, 1, 1}, 180);
}

Test(conv2d, winograd_even_sizes_more_outputs_than_inputs)
{
    conv2d_shape s = shape_of(3, 16, 8, 6, 24, 3, 1, 1);
    cr_assert(winograd_applies(&s));
    check_conv((conv_case){3, 16, 8, 6, 24, 3, 1, 1, 0}, 190);
}

/* 64×62: 992 2×2 tiles an image forward (chunks of 1 image, WINOGRAD_TARGET_TILES 512) and 256
 * 4×4 tiles backward (at most 4 images a chunk by WINOGRAD_BACKWARD_TARGET_TILES 1024, cut
 * into 2, 2 and 1 by WINOGRAD_BACKWARD_CHUNK_GROUPS): the weight gradient sums over chunks. Fewer gradient coordinates are
 * checked here, as each evaluation of the double definition is 27 M multiply-adds. */
Test(conv2d, winograd_two_chunks_with_a_remainder)
{
    conv2d_shape s = shape_of(5, 16, 64, 62, 16, 3, 1, 1);
    cr_assert(winograd_applies(&s));
    check_conv_limited((conv_case){5, 16, 64, 62, 16, 3, 1, 1, 0}, 200, 24);
}

/* 4×4 images (ResNet-18's last stage at 32×32 input): one 4×4 tile an image backward, so the 40
 * images of the chunk are the 40 lanes of every transform. */
Test(conv2d, winograd_one_tile_an_image_many_lanes)
{
    conv2d_shape s = shape_of(40, 16, 4, 4, 16, 3, 1, 1);
    cr_assert(winograd_applies(&s));
    check_conv_limited((conv_case){40, 16, 4, 4, 16, 3, 1, 1, 0}, 220, 60);
}

/* The forward transforms only add, subtract and halve: on integers in -2 .. 2 every intermediate
 * is a small multiple of 1/4, exact in float, so F(2×2, 3×3) must equal the direct sum bit for
 * bit. 9×10 takes the image-lane path (5 tiles a row), 17×18 the row path (9), 17×17 the row
 * path with an odd width (two zeros right of the row), 3×255 and 2×256 the widest rows the
 * Winograd path takes (128 tiles). */
static void check_winograd_exact(size_t H, size_t W, unsigned long tag)
{
    conv2d_shape s = shape_of(2, 16, H, W, 17, 3, 1, 1);
    const size_t in_count = 2 * 16 * H * W, out_count = 2 * 17 * H * W, weight_count = 17 * 16 * 9;
    size_t floats, i;
    simclr_error err;
    float *x = random_floats(in_count, -2.5f, 2.5f, tag), *w = random_floats(weight_count, -2.5f, 2.5f, tag + 1);
    float *y = malloc(out_count * sizeof(float)), *y_naive = malloc(out_count * sizeof(float)), *workspace;
    cr_assert(winograd_applies(&s));
    cr_assert_eq(conv2d_workspace_floats(&s, &floats, &err), SIMCLR_OK);
    workspace = malloc(floats * sizeof(float));
    for (i = 0; i < in_count; i++)
        x[i] = roundf(x[i]);
    for (i = 0; i < weight_count; i++)
        w[i] = roundf(w[i]);
    conv2d_forward(y, x, w, NULL, &s, workspace);
    conv2d_forward_naive(y_naive, x, w, NULL, &s);
    for (i = 0; i < out_count; i++)
        if (y[i] != y_naive[i])
            break;
    cr_expect_eq(i, out_count, "%zux%zu: first difference at %zu: %g vs %g", H, W, i,
                 i < out_count ? y[i] : 0.0, i < out_count ? y_naive[i] : 0.0);
    free(x), free(w), free(y), free(y_naive), free(workspace);
}

Test(conv2d, winograd_is_exact_on_small_integers)
{
    check_winograd_exact(9, 10, 210);
    check_winograd_exact(17, 18, 212);
    check_winograd_exact(17, 17, 214);
    check_winograd_exact(3, 255, 216);
    check_winograd_exact(2, 256, 218);
}

/* The forward with 2 threads and at least 2 chunks gives each thread whole chunks, with its own V
 * and M (nn/winograd.c); with 1 thread, one V and M serve every chunk. Both must be the same
 * bits: each output is the same sums in the same order, whichever thread made it. With 2 threads,
 * 32×32 takes the row path in 2 chunks of 2 images, 64×62 in 5 chunks of 1, and 8×8 the
 * image-lane path in 4 chunks of 17, 17, 17 and 14 (every thread its own scratch); with 1
 * thread, 8×8 goes in 3 chunks of 32, 32 and 1. */
static void winograd_forward_with_threads(float *y, const float *x, const float *w, size_t B,
                                          size_t H, size_t W, int threads)
{
    conv2d_shape s;
    size_t floats;
    simclr_error err;
    float *workspace;
    parallel_set_thread_count(threads);
    s = shape_of(B, 16, H, W, 24, 3, 1, 1);
    cr_assert(winograd_applies(&s));
    cr_assert_eq(conv2d_workspace_floats(&s, &floats, &err), SIMCLR_OK);
    workspace = malloc(floats * sizeof(float));
    cr_assert_not_null(workspace);
    conv2d_forward(y, x, w, NULL, &s, workspace);
    free(workspace);
}

static void check_winograd_threads(size_t B, size_t H, size_t W, unsigned long tag)
{
    const size_t in_count = B * 16 * H * W, out_count = B * 24 * H * W, weight_count = 24 * 16 * 9;
    float *x = random_floats(in_count, -1, 1, tag), *w = random_floats(weight_count, -1, 1, tag + 1);
    float *y1 = malloc(out_count * sizeof(float)), *y2 = malloc(out_count * sizeof(float));
    float *y_naive = malloc(out_count * sizeof(float));
    conv2d_shape s = shape_of(B, 16, H, W, 24, 3, 1, 1);
    size_t i;
    winograd_forward_with_threads(y1, x, w, B, H, W, 1);
    winograd_forward_with_threads(y2, x, w, B, H, W, 2);
    for (i = 0; i < out_count; i++)
        if (memcmp(&y1[i], &y2[i], sizeof(float)) != 0)
            break;
    cr_expect_eq(i, out_count, "%zu images %zux%zu: 1 and 2 threads differ first at %zu", B, H,
                 W, i);
    conv2d_forward_naive(y_naive, x, w, NULL, &s);
    cr_expect_leq(float_difference(y2, y_naive, out_count), 1e-5, "%zu images %zux%zu", B, H, W);
    free(x), free(w), free(y1), free(y2), free(y_naive);
}

/* parallel_even_chunk (nn/parallel.h): worked examples (equal cuts where up to twice the fewest
 * chunks allow one, the even-as-possible cut where none does); over a range of sizes, never more
 * than `most` nor less than 1, and a cut that is already even kept as it is. */
Test(conv2d, even_chunks_cut_equally_where_they_can)
{
    size_t items, most, threads;
    cr_expect_eq(parallel_even_chunk(32, 6, 2), 4, "32 in at most 6s for 2: 8 chunks of 4");
    cr_expect_eq(parallel_even_chunk(32, 11, 2), 8, "4 chunks of 8, not 3 of up to 11");
    cr_expect_eq(parallel_even_chunk(32, 32, 2), 16, "one chunk becomes two");
    cr_expect_eq(parallel_even_chunk(128, 2, 2), 2, "64 chunks of 2 already even");
    cr_expect_eq(parallel_even_chunk(65, 32, 2), 17, "no even cut: 4 chunks, 17 17 17 14");
    cr_expect_eq(parallel_even_chunk(5, 1, 2), 1, "never above most");
    cr_expect_eq(parallel_even_chunk(7, 3, 1), 3, "one thread: most itself");
    for (items = 1; items <= 100; items++)
        for (most = 1; most <= 40; most++)
            for (threads = 1; threads <= 4; threads++) {
                const size_t size = parallel_even_chunk(items, most, threads);
                const size_t chunks = (items + size - 1) / size;
                cr_assert(size >= 1 && size <= most, "%zu %zu %zu: %zu", items, most, threads, size);
                if (items % most == 0 && (items / most) % threads == 0) /* already even */
                    cr_assert(size == most && chunks == items / most, "%zu %zu %zu: %zu", items,
                              most, threads, size);
            }
}

/* Convolutions on im2col cut the batch the same way when threads take whole chunks: a 1×1 and a
 * stride-2 3×3 convolution onto 7×7 maps (chunks of at most 6 images, cut into 8 of 4 for 32
 * images and 2 threads) must give the same bits, forward and backward, as with one thread. */
static void conv_with_threads(const conv_case *c, size_t shards, int threads, const float *x,
                              const float *w, const float *dy, float *y, float *dx, float *dw)
{
    conv2d_shape s;
    size_t floats;
    simclr_error err;
    float *workspace;
    parallel_set_thread_count(threads); /* before the shape, which plans for it */
    cr_assert_eq(conv2d_shape_init(&s, c->B, c->C, c->H, c->W, c->O, c->k, c->s, c->p, &err),
                 SIMCLR_OK);
    cr_assert_eq(conv2d_shape_shard(&s, shards, NULL, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(conv2d_workspace_floats(&s, &floats, &err), SIMCLR_OK);
    workspace = malloc(floats * sizeof(float));
    cr_assert_not_null(workspace);
    conv2d_forward(y, x, w, NULL, &s, workspace);
    memset(dw, 0, c->O * c->C * c->k * c->k * sizeof(float));
    conv2d_backward(dx, dw, NULL, dy, x, w, &s, workspace);
    free(workspace);
}

/* The same bits as with one thread, forward and backward, for 2 .. most_threads threads, the
 * batch's weight gradient summed over `shards` shards (1: the whole batch at once). */
static void check_conv_threads(conv_case c, size_t shards, unsigned long tag, int most_threads)
{
    const size_t Ho = (c.H + 2 * c.p - c.k) / c.s + 1, Wo = (c.W + 2 * c.p - c.k) / c.s + 1;
    const size_t in_count = c.B * c.C * c.H * c.W, out_count = c.B * c.O * Ho * Wo;
    const size_t weight_count = c.O * c.C * c.k * c.k;
    float *x = random_floats(in_count, -1, 1, tag), *w = random_floats(weight_count, -1, 1, tag + 1);
    float *dy = random_floats(out_count, -1, 1, tag + 2);
    float *y[2], *dx[2], *dw[2];
    int t, threads;
    for (t = 0; t < 2; t++) {
        y[t] = malloc(out_count * sizeof(float));
        dx[t] = malloc(in_count * sizeof(float));
        dw[t] = malloc(weight_count * sizeof(float));
    }
    conv_with_threads(&c, shards, 1, x, w, dy, y[0], dx[0], dw[0]);
    for (threads = 2; threads <= most_threads; threads++) {
        conv_with_threads(&c, shards, threads, x, w, dy, y[1], dx[1], dw[1]);
        cr_expect_eq(memcmp(y[0], y[1], out_count * sizeof(float)), 0,
                     "%zu images %zux%zu, k=%zu: y, 1 and %d threads", c.B, c.H, c.W, c.k, threads);
        cr_expect_eq(memcmp(dx[0], dx[1], in_count * sizeof(float)), 0,
                     "%zu images %zux%zu, k=%zu: dx, 1 and %d threads", c.B, c.H, c.W, c.k,
                     threads);
        cr_expect_eq(memcmp(dw[0], dw[1], weight_count * sizeof(float)), 0,
                     "%zu images %zux%zu, k=%zu: dweight, 1 and %d threads", c.B, c.H, c.W, c.k,
                     threads);
    }
    for (t = 0; t < 2; t++)
        free(y[t]), free(dx[t]), free(dw[t]);
    free(x), free(w), free(dy);
}

Test(conv2d, im2col_chunks_are_the_same_bits_for_1_and_2_threads)
{
    check_conv_threads((conv_case){32, 8, 7, 7, 12, 1, 1, 0, 0}, 1, 240, 2);
    check_conv_threads((conv_case){32, 8, 14, 14, 12, 3, 2, 1, 0}, 1, 243, 2);
}

/* The weight gradient on im2col over several chunks (nn/conv2d.c): with at least as many chunks
 * as threads each thread makes whole chunks' products and adds each into dW once the chunk before
 * it is in; otherwise one chunk after another. The same bits for 1 to 5 threads: a 1×1 onto
 * 32×32 maps (at most 2 images a chunk: 9 images in 2, 2, 2, 2, 1; 5 threads take one each) and
 * a 3×3 from 3 channels at 16×16 (at most 8: 20 images in 4 chunks of 5). */
Test(conv2d, im2col_weight_gradient_is_the_same_bits_for_any_thread_count)
{
    check_conv_threads((conv_case){9, 8, 32, 32, 12, 1, 1, 0, 0}, 1, 246, 5);
    check_conv_threads((conv_case){20, 3, 16, 16, 16, 3, 1, 1, 0}, 1, 248, 5);
}

/* The Winograd backward (nn/winograd_backward.c) with at least as many chunks as threads gives
 * each thread whole chunks, with its own V, dM and products, which it adds into dU once the chunk
 * before it is in; with fewer, the threads share each chunk; with one thread, one worker does
 * every chunk. dweight must be the same bits in all of these (dU summed over the chunks in
 * order, the chunks cut by the shape alone), and dx too. 32×32 maps take 16 images a chunk at
 * most: 40 images in 4 chunks of 10 (2 threads: 2 chunks each; 3 threads: thread 0 takes the
 * first and the last; 5 threads: shared); 37 in 10, 10, 10 and 7. 64×62 takes 4 at most: 5
 * images in 2, 2 and 1 (3 chunks for 2 threads). 8×8: one chunk, dU over U. */
Test(conv2d, winograd_backward_is_the_same_bits_for_any_thread_count)
{
    check_conv_threads((conv_case){40, 16, 32, 32, 24, 3, 1, 1, 0}, 1, 250, 5);
    check_conv_threads((conv_case){37, 16, 32, 32, 16, 3, 1, 1, 0}, 1, 253, 3);
    check_conv_threads((conv_case){5, 16, 64, 62, 16, 3, 1, 1, 0}, 1, 256, 3);
    check_conv_threads((conv_case){24, 16, 8, 8, 24, 3, 1, 1, 0}, 1, 259, 3);
}

/* The sharded backward runs each shard as a batch of its own, so within a shard the threads take
 * whole weight-gradient (or Winograd) chunks or share each one, depending on how many there are;
 * the chunks are cut by the shape alone, so the bits must not depend on the thread count. 2
 * shards each: a 1×1 onto 16×16 maps (at most 8 images a weight chunk, cut into a multiple of 4:
 * shards of 12 images in 4 chunks of 3; 2-4 threads take whole chunks, 5 take them one after
 * another), and a Winograd 3×3 at 32×32 (at most 16 images a chunk: shards of 32 in 4 chunks of
 * 8; 2-4 threads take whole chunks, 5 share them). */
Test(conv2d, sharded_backward_is_the_same_bits_for_any_thread_count)
{
    check_conv_threads((conv_case){24, 8, 16, 16, 12, 1, 1, 0, 0}, 2, 262, 5);
    check_conv_threads((conv_case){64, 16, 32, 32, 16, 3, 1, 1, 0}, 2, 265, 5);
}

Test(conv2d, winograd_forward_is_the_same_bits_for_1_and_2_threads)
{
    check_winograd_threads(4, 32, 32, 230);
    check_winograd_threads(5, 64, 62, 232);
    check_winograd_threads(65, 8, 8, 234);
}

Test(conv2d, impossible_shapes_are_rejected)
{
    conv2d_shape shape;
    simclr_error err;
    cr_expect_eq(conv2d_shape_init(&shape, 1, 1, 2, 2, 1, 5, 1, 1, &err), SIMCLR_FAILED);
    cr_expect_eq(conv2d_shape_init(&shape, 1, 1, 8, 8, 1, 3, 0, 1, &err), SIMCLR_FAILED);
    cr_expect_eq(conv2d_shape_init(&shape, 0, 1, 8, 8, 1, 3, 1, 1, &err), SIMCLR_FAILED);
}

/* A shape whose workspace would not fit in size_t is refused by the size query, before any plan
 * multiplies its sizes (a wrapped size would allocate too little and the kernels would write
 * past it): O = SIZE_MAX/256 output channels over 8×8 maps passes conv2d_shape_init (the output,
 * B·O·H·W = SIZE_MAX/4 floats, is a size) but not the workspace estimate, on im2col (1×1) and on
 * Winograd (3×3: the forward's and the backward's estimate each). ResNet-50's 56×56 stage at 32
 * images is planned, with at least U_ξ = 36·C·O floats for the backward. */
Test(conv2d, workspace_sizes_that_overflow_are_refused)
{
    const size_t huge = (size_t)-1 / 256;
    conv2d_shape shape;
    simclr_error err;
    size_t floats;
    cr_assert_eq(conv2d_shape_init(&shape, 1, 16, 8, 8, huge, 1, 1, 0, &err), SIMCLR_OK);
    cr_expect_eq(conv2d_workspace_floats(&shape, &floats, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "overflows") != NULL, "%s", err.message);
    cr_assert_eq(conv2d_shape_init(&shape, 1, 16, 8, 8, huge, 3, 1, 1, &err), SIMCLR_OK);
    cr_assert(winograd_applies(&shape));
    cr_expect_eq(conv2d_workspace_floats(&shape, &floats, &err), SIMCLR_FAILED);
    cr_expect_eq(winograd_workspace_floats(&shape, &floats, &err), SIMCLR_FAILED);
    cr_expect_eq(winograd_backward_workspace_floats(&shape, &floats, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "overflows") != NULL, "%s", err.message);
    cr_assert_eq(conv2d_shape_init(&shape, 32, 64, 56, 56, 64, 3, 1, 1, &err), SIMCLR_OK);
    cr_expect_eq(conv2d_workspace_floats(&shape, &floats, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_geq(floats, (size_t)36 * 64 * 64);
}

/* ---- batchnorm ---------------------------------------------------------------------------- */

typedef struct bn_context {
    size_t B, C, S;
    int eval;
    double *x, *weight, *bias, *r, *y, *running_mean, *running_var;
} bn_context;

static double bn_loss(void *context)
{
    bn_context *t = context;
    size_t n, c, s;
    if (!t->eval) {
        reference_batchnorm_train(t->y, t->x, t->weight, t->bias, t->B, t->C, t->S, 1e-5);
    } else {
        for (n = 0; n < t->B; n++)
            for (c = 0; c < t->C; c++)
                for (s = 0; s < t->S; s++) {
                    const size_t at = (n * t->C + c) * t->S + s;
                    t->y[at] = t->weight[c] * (t->x[at] - t->running_mean[c]) /
                                   sqrt(t->running_var[c] + 1e-5) +
                               t->bias[c];
                }
    }
    return reference_dot(t->y, t->r, t->B * t->C * t->S);
}

static void check_batchnorm(size_t B, size_t C, size_t S, int eval, unsigned long tag)
{
    const size_t count = B * C * S;
    float *x = random_floats(count, -2, 3, tag), *weight = random_floats(C, 0.5f, 1.5f, tag + 1);
    float *bias = random_floats(C, -1, 1, tag + 2), *dy = random_floats(count, -1, 1, tag + 3);
    float *running_mean = random_floats(C, -0.5f, 0.5f, tag + 4);
    float *running_var = random_floats(C, 0.5f, 2.0f, tag + 5);
    float *y = malloc(count * sizeof(float)), *dx = malloc(count * sizeof(float));
    float *dweight = calloc(C, sizeof(float)), *dbias = calloc(C, sizeof(float));
    float *mean = malloc(C * sizeof(float)), *inverse_std = malloc(C * sizeof(float));
    int64_t tracked = 0;
    batchnorm_state state = {running_mean, running_var, &tracked, 0.1f, 1e-5f};
    batchnorm_shape shape = {B, C, S, 1, NULL};
    bn_context t = {B, C, S, eval, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    char what[96];
    sprintf(what, "batchnorm %s B=%zu C=%zu S=%zu", eval ? "eval" : "train", B, C, S);
    t.x = reference_from_float(x, count);
    t.weight = reference_from_float(weight, C);
    t.bias = reference_from_float(bias, C);
    t.r = reference_from_float(dy, count);
    t.running_mean = reference_from_float(running_mean, C);
    t.running_var = reference_from_float(running_var, C);
    t.y = malloc(count * sizeof(double));
    if (eval) {
        batchnorm_forward_eval(y, x, weight, bias, &state, &shape);
        batchnorm_backward_eval(dx, dweight, dbias, dy, x, weight, &state, &shape);
    } else {
        batchnorm_forward_train(y, mean, inverse_std, x, weight, bias, &state, &shape);
        batchnorm_backward_train(dx, dweight, dbias, dy, x, mean, inverse_std, weight, &shape);
    }
    bn_loss(&t);
    cr_expect_leq(relative_difference(y, t.y, count), 1e-5, "%s: forward", what);
    check_gradient(what, t.x, count, dx, bn_loss, &t, 1e-5, 0);
    check_gradient(what, t.weight, C, dweight, bn_loss, &t, 1e-5, 0);
    check_gradient(what, t.bias, C, dbias, bn_loss, &t, 1e-5, 0);
    free(x), free(weight), free(bias), free(dy), free(running_mean), free(running_var), free(y);
    free(dx), free(dweight), free(dbias), free(mean), free(inverse_std);
    free(t.x), free(t.weight), free(t.bias), free(t.r), free(t.running_mean), free(t.running_var);
    free(t.y);
}

Test(batchnorm, train_2d) { check_batchnorm(3, 4, 5, 0, 200); }
Test(batchnorm, train_2d_batch_1) { check_batchnorm(1, 3, 6, 0, 210); }
Test(batchnorm, train_1d) { check_batchnorm(6, 5, 1, 0, 220); }
Test(batchnorm, eval_2d) { check_batchnorm(2, 3, 7, 1, 230); }
Test(batchnorm, eval_1d) { check_batchnorm(4, 6, 1, 1, 240); }

/* Running statistics after two training steps (PyTorch): with momentum m,
 *     rm ← (1−m) rm + m·mean,   rv ← (1−m) rv + m·var·n/(n−1),   num_batches_tracked = 2. */
Test(batchnorm, running_statistics_after_two_steps)
{
    const size_t B = 2, C = 3, S = 4, n = B * S;
    float x1[24], x2[24], y[24], mean[3], inverse_std[3], weight[3] = {1, 1, 1},
                                                           bias[3] = {0, 0, 0};
    float running_mean[3] = {0.2f, -0.1f, 0.0f}, running_var[3] = {1.5f, 0.7f, 1.0f};
    double want_mean[3], want_var[3];
    int64_t tracked = 0;
    batchnorm_state state = {running_mean, running_var, &tracked, 0.1f, 1e-5f};
    batchnorm_shape shape = {B, C, S, 1, NULL};
    size_t c, b, s;
    test_fill_uniform(x1, 24, -1, 2, 250);
    test_fill_uniform(x2, 24, -3, 1, 251);
    for (c = 0; c < C; c++) {
        want_mean[c] = running_mean[c];
        want_var[c] = running_var[c];
    }
    for (int step = 0; step < 2; step++) {
        const float *x = step == 0 ? x1 : x2;
        for (c = 0; c < C; c++) {
            double m = 0, v = 0;
            for (b = 0; b < B; b++)
                for (s = 0; s < S; s++)
                    m += x[(b * C + c) * S + s];
            m /= n;
            for (b = 0; b < B; b++)
                for (s = 0; s < S; s++)
                    v += (x[(b * C + c) * S + s] - m) * (x[(b * C + c) * S + s] - m);
            want_mean[c] = 0.9 * want_mean[c] + 0.1 * m;
            want_var[c] = 0.9 * want_var[c] + 0.1 * v / (n - 1);
        }
        batchnorm_forward_train(y, mean, inverse_std, x, weight, bias, &state, &shape);
    }
    for (c = 0; c < C; c++) {
        cr_expect(fabs(running_mean[c] - want_mean[c]) < 1e-6, "mean %zu: %.8g vs %.8g", c,
                  running_mean[c], want_mean[c]);
        cr_expect(fabs(running_var[c] - want_var[c]) < 1e-6 * want_var[c] + 1e-7,
                  "var %zu: %.8g vs %.8g", c, running_var[c], want_var[c]);
    }
    cr_expect_eq(tracked, 2);
}

/* The fused pass ReLU(BN(x) + residual) (bn_layer_forward_relu) is the batch norm, add_forward
 * and relu_forward one after the other, bit for bit, with and without the residual, in training
 * and evaluation mode (statistics and running statistics too); and batchnorm_forward_saved
 * makes the training forward's output again from its saved statistics, bit for bit, with and
 * without the ReLU after it. The
 * batch norm itself is checked against its definition above. */
Test(batchnorm, fused_relu_and_saved_are_the_separate_passes_bit_for_bit)
{
    const size_t B = 3, C = 5, S = 37, n = B * C * S; /* S: whole vectors and a remainder */
    float x[555], residual[555], y_separate[555], y_fused[555], y_saved[555];
    float mean[2][5], inverse_std[2][5];
    batchnorm_shape shape = {B, C, S, 1, NULL};
    int training, with_residual;
    for (training = 0; training < 2; training++)
        for (with_residual = 0; with_residual < 2; with_residual++) {
            param_store stores[2];
            bn_layer bn[2];
            simclr_error err;
            size_t k;
            for (k = 0; k < 2; k++) { /* two stores alike: one for each way */
                param_store_init(&stores[k]);
                cr_assert_eq(bn_layer_plan(&bn[k], &stores[k], "", "bn", C, &err), SIMCLR_OK);
                cr_assert_eq(param_store_allocate(&stores[k], &err), SIMCLR_OK);
                test_fill_uniform(stores[k].params, stores[k].param_floats, -1, 1, 260);
                test_fill_uniform(stores[k].buffers, stores[k].buffer_floats, 0.5f, 2, 261);
            }
            test_fill_uniform(x, n, -2, 2, 262 + (unsigned long)training);
            test_fill_uniform(residual, n, -1, 1, 264);
            bn_layer_forward(y_separate, mean[0], inverse_std[0], x, &bn[0], &shape, &stores[0],
                             training);
            if (with_residual)
                add_forward(y_separate, y_separate, residual, n);
            relu_forward(y_separate, y_separate, n);
            bn_layer_forward_relu(y_fused, mean[1], inverse_std[1], x,
                                  with_residual ? residual : NULL, &bn[1], &shape, &stores[1],
                                  training);
            cr_expect(memcmp(y_separate, y_fused, sizeof y_fused) == 0,
                      "training %d, residual %d: the fused pass differs", training,
                      with_residual);
            cr_expect(memcmp(stores[0].buffers, stores[1].buffers,
                             stores[0].buffer_floats * sizeof(float)) == 0,
                      "training %d: running statistics differ", training);
            if (training) {
                cr_expect(memcmp(mean[0], mean[1], sizeof mean[0]) == 0 &&
                              memcmp(inverse_std[0], inverse_std[1], sizeof mean[0]) == 0,
                          "saved statistics differ");
                bn_layer_forward(y_separate, mean[0], inverse_std[0], x, &bn[0], &shape,
                                 &stores[0], 1);
                bn_layer_forward_saved(y_saved, mean[0], inverse_std[0], x, &bn[0], &shape,
                                       &stores[0], 0);
                cr_expect(memcmp(y_separate, y_saved, sizeof y_saved) == 0,
                          "batchnorm_forward_saved differs from the training forward");
                relu_forward(y_separate, y_separate, n);
                bn_layer_forward_saved(y_saved, mean[0], inverse_std[0], x, &bn[0], &shape,
                                       &stores[0], 1);
                cr_expect(memcmp(y_separate, y_saved, sizeof y_saved) == 0,
                          "batchnorm_forward_saved with ReLU differs from the two passes");
            }
            param_store_destroy(&stores[0]), param_store_destroy(&stores[1]);
        }
}

/* ---- relu, add, pools, linear ------------------------------------------------------------- */

typedef struct simple_context {
    size_t count, out_count, B, C, H, W, k, s, p, in, out;
    double *x, *w, *b, *r, *y;
    int kind; /* 0 relu, 1 maxpool, 2 avgpool, 3 linear */
} simple_context;

static double simple_loss(void *context)
{
    simple_context *t = context;
    switch (t->kind) {
    case 0:
        reference_relu(t->y, t->x, t->count);
        break;
    case 1:
        reference_maxpool(t->y, t->x, t->B, t->C, t->H, t->W, t->k, t->s, t->p);
        break;
    case 2:
        reference_avgpool(t->y, t->x, t->B, t->C, t->H * t->W);
        break;
    default:
        reference_linear(t->y, t->x, t->w, t->b, t->B, t->in, t->out);
        break;
    }
    return reference_dot(t->y, t->r, t->out_count);
}

Test(relu, forward_and_backward)
{
    const size_t count = 50;
    float *x = random_floats(count, -1, 1, 300), *dy = random_floats(count, -1, 1, 301);
    float y[50], dx[50];
    simple_context t = {0};
    size_t i;
    for (i = 0; i < count; i++) /* keep every value away from the kink at 0 */
        if (fabs(x[i]) < 0.01f)
            x[i] = 0.5f;
    t.count = t.out_count = count;
    t.x = reference_from_float(x, count);
    t.r = reference_from_float(dy, count);
    t.y = malloc(count * sizeof(double));
    t.kind = 0;
    relu_forward(y, x, count);
    simple_loss(&t);
    cr_expect_leq(relative_difference(y, t.y, count), 0.0);
    relu_backward(dx, dy, y, count);
    check_gradient("relu", t.x, count, dx, simple_loss, &t, 1e-6, 0);
    relu_forward(x, x, count); /* in place */
    cr_expect(memcmp(x, y, sizeof y) == 0);
    free(x), free(dy), free(t.x), free(t.r), free(t.y);
}

Test(add, forward)
{
    const float a[3] = {1.5f, -2.0f, 0.25f}, b[3] = {0.5f, 2.0f, -1.0f};
    float y[3];
    add_forward(y, a, b, 3);
    cr_expect(y[0] == 2.0f && y[1] == 0.0f && y[2] == -0.75f);
}

static void check_maxpool(size_t B, size_t C, size_t H, size_t W, size_t k, size_t s, size_t p,
                          unsigned long tag)
{
    pool_shape shape;
    simple_context t = {0};
    float *x, *dy, *y, *dx;
    int32_t *argmax;
    char what[80];
    cr_assert_eq(pool_shape_init(&shape, B, C, H, W, k, s, p), 0);
    t.kind = 1, t.B = B, t.C = C, t.H = H, t.W = W, t.k = k, t.s = s, t.p = p;
    t.count = B * C * H * W;
    t.out_count = B * C * shape.out_height * shape.out_width;
    x = random_floats(t.count, -1, 1, tag);
    dy = random_floats(t.out_count, -1, 1, tag + 1);
    y = malloc(t.out_count * sizeof(float));
    dx = malloc(t.count * sizeof(float));
    argmax = malloc(t.out_count * sizeof(int32_t));
    t.x = reference_from_float(x, t.count);
    t.r = reference_from_float(dy, t.out_count);
    t.y = malloc(t.out_count * sizeof(double));
    sprintf(what, "maxpool %zux%zu k=%zu s=%zu p=%zu", H, W, k, s, p);
    maxpool_forward(y, argmax, x, &shape);
    simple_loss(&t);
    cr_expect_leq(relative_difference(y, t.y, t.out_count), 0.0, "%s forward", what);
    maxpool_backward(dx, dy, argmax, &shape);
    check_gradient(what, t.x, t.count, dx, simple_loss, &t, 1e-6, 0);
    { /* the winners found again from x: the same bits */
        float *again = malloc(t.count * sizeof(float));
        maxpool_backward_from_input(again, dy, x, &shape);
        cr_expect(memcmp(again, dx, t.count * sizeof(float)) == 0,
                  "%s: backward from the input differs from the saved winners'", what);
        free(again);
    }
    free(x), free(dy), free(y), free(dx), free(argmax), free(t.x), free(t.r), free(t.y);
}

Test(maxpool, resnet_3x3_stride_2_padding_1_odd) { check_maxpool(2, 3, 7, 6, 3, 2, 1, 400); }
Test(maxpool, resnet_3x3_stride_2_padding_1_batch_1) { check_maxpool(1, 2, 8, 8, 3, 2, 1, 410); }
Test(maxpool, kernel_2_stride_2_padding_0) { check_maxpool(2, 2, 6, 5, 2, 2, 0, 420); }

/* Ties go to the first maximum in scan order, as PyTorch's CPU kernel. */
Test(maxpool, ties_go_to_the_first_position)
{
    const float x[4] = {1, 1, 1, 1};
    float y[1], dx[4];
    const float dy[1] = {1};
    int32_t argmax[1];
    pool_shape shape;
    cr_assert_eq(pool_shape_init(&shape, 1, 1, 2, 2, 2, 2, 0), 0);
    maxpool_forward(y, argmax, x, &shape);
    maxpool_backward(dx, dy, argmax, &shape);
    cr_expect(argmax[0] == 0 && dx[0] == 1 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0);
    dx[0] = 0.0f;
    maxpool_backward_from_input(dx, dy, x, &shape);
    cr_expect(dx[0] == 1 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0, "from the input");
}

Test(avgpool, forward_and_backward)
{
    const size_t B = 2, C = 3, H = 5, W = 3;
    simple_context t = {0};
    float *x = random_floats(B * C * H * W, -1, 1, 500), *dy = random_floats(B * C, -1, 1, 501);
    float h[6], dx[90];
    t.kind = 2, t.B = B, t.C = C, t.H = H, t.W = W;
    t.count = B * C * H * W;
    t.out_count = B * C;
    t.x = reference_from_float(x, t.count);
    t.r = reference_from_float(dy, t.out_count);
    t.y = malloc(t.out_count * sizeof(double));
    avgpool_forward(h, x, B, C, H * W);
    simple_loss(&t);
    cr_expect_leq(relative_difference(h, t.y, t.out_count), 1e-6);
    avgpool_backward(dx, dy, B, C, H * W);
    check_gradient("avgpool", t.x, t.count, dx, simple_loss, &t, 1e-6, 0);
    free(x), free(dy), free(t.x), free(t.r), free(t.y);
}

static void check_linear(size_t B, size_t in, size_t out, int bias, unsigned long tag)
{
    simple_context t = {0};
    size_t workspace_floats, i;
    float *x = random_floats(B * in, -1, 1, tag), *w = random_floats(out * in, -1, 1, tag + 1);
    float *b = random_floats(out, -1, 1, tag + 2), *dy = random_floats(B * out, -1, 1, tag + 3);
    float *y = malloc(B * out * sizeof(float)), *dx = malloc(B * in * sizeof(float));
    float *dw = malloc(out * in * sizeof(float)), *db = malloc(out * sizeof(float)), *workspace;
    char what[64];
    cr_assert_eq(linear_workspace_floats(B, in, out, &workspace_floats, NULL), SIMCLR_OK);
    workspace = malloc(workspace_floats * sizeof(float));
    t.kind = 3, t.B = B, t.in = in, t.out = out, t.out_count = B * out;
    t.x = reference_from_float(x, B * in);
    t.w = reference_from_float(w, out * in);
    t.b = bias ? reference_from_float(b, out) : NULL;
    t.r = reference_from_float(dy, B * out);
    t.y = malloc(B * out * sizeof(double));
    sprintf(what, "linear B=%zu %zu->%zu bias=%d", B, in, out, bias);
    linear_forward(y, x, w, bias ? b : NULL, B, in, out, workspace);
    simple_loss(&t);
    cr_expect_leq(relative_difference(y, t.y, B * out), 1e-5, "%s forward", what);
    for (i = 0; i < out * in; i++)
        dw[i] = 0.5f;
    for (i = 0; i < out; i++)
        db[i] = 0.25f;
    linear_backward(dx, dw, bias ? db : NULL, dy, x, w, B, in, out, workspace);
    for (i = 0; i < out * in; i++)
        dw[i] -= 0.5f;
    for (i = 0; i < out; i++)
        db[i] -= 0.25f;
    check_gradient(what, t.x, B * in, dx, simple_loss, &t, 1e-5, 0);
    check_gradient(what, t.w, out * in, dw, simple_loss, &t, 1e-5, 0);
    if (bias)
        check_gradient(what, t.b, out, db, simple_loss, &t, 1e-5, 0);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db), free(workspace);
    free(t.x), free(t.w), free(t.b), free(t.r), free(t.y);
}

Test(linear, odd_sizes_with_bias) { check_linear(5, 7, 3, 1, 600); }
Test(linear, batch_1_without_bias) { check_linear(1, 33, 17, 0, 610); }
Test(linear, wide) { check_linear(9, 70, 40, 1, 620); }
