/*
 * tests/test_dataset.c — the dataset interface (data/dataset.h) over the built-in shapes and the
 * real Fashion-MNIST files; the epoch order; unknown sources named in the error.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

Test(dataset, builtin_shapes_through_the_interface)
{
    dataset data;
    simclr_error err;
    float a[3 * 32 * 32], b[3 * 32 * 32];
    cr_assert_eq(dataset_open(&data, "builtin:shapes", 1, 5, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(data.count == SHAPES_TRAIN_COUNT && data.channels == 3 && data.height == 32 &&
              data.classes == 6);
    cr_expect_str_eq(data.names[3], "ring");
    cr_assert_eq(dataset_image(&data, 17, a, NULL), SIMCLR_OK);
    cr_expect_eq(shapes_image(b, 5, SHAPES_TRAIN, 17, 32), dataset_label(&data, 17));
    cr_expect(memcmp(a, b, sizeof a) == 0);
    dataset_close(&data);
    cr_assert_eq(dataset_open(&data, "builtin:shapes", 0, 5, &err), SIMCLR_OK);
    cr_expect_eq(data.count, (size_t)SHAPES_TEST_COUNT);
    dataset_close(&data);
}

/* Fashion-MNIST's first test image is label 9 (ankle boot); pixels are bytes / 255. */
Test(dataset, fashion_mnist_through_the_interface)
{
    dataset data;
    idx_split split;
    simclr_error err;
    float image[28 * 28];
    size_t i;
    cr_assert_eq(dataset_open(&data, "/usr/share/datasets/fashion-mnist", 0, 0, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect(data.count == 10000 && data.channels == 1 && data.height == 28 && data.width == 28);
    cr_expect_eq(dataset_label(&data, 0), 9);
    cr_assert_eq(idx_split_load(&split, "/usr/share/datasets/fashion-mnist", 0, &err), SIMCLR_OK);
    cr_assert_eq(dataset_image(&data, 3, image, NULL), SIMCLR_OK);
    for (i = 0; i < 784; i++)
        cr_assert_eq(image[i], (float)split.images.data[3 * 784 + i] / 255.0f);
    idx_split_free(&split);
    dataset_close(&data);
}

/* An epoch order is a permutation, the same for the same (seed, epoch), different across epochs
 * and seeds. */
Test(dataset, epoch_order_is_a_reproducible_permutation)
{
    dataset data;
    size_t *a, *b, *c, i, moved = 0;
    char *seen;
    cr_assert_eq(dataset_open(&data, "builtin:shapes", 0, 0, NULL), SIMCLR_OK);
    a = malloc(data.count * sizeof *a), b = malloc(data.count * sizeof *b);
    c = malloc(data.count * sizeof *c), seen = calloc(data.count, 1);
    dataset_epoch_order(&data, 3, 1, a);
    dataset_epoch_order(&data, 3, 1, b);
    dataset_epoch_order(&data, 3, 2, c);
    cr_expect(memcmp(a, b, data.count * sizeof *a) == 0);
    cr_expect(memcmp(a, c, data.count * sizeof *a) != 0);
    for (i = 0; i < data.count; i++) {
        cr_assert_lt(a[i], data.count);
        cr_assert(!seen[a[i]], "index %zu twice", a[i]);
        seen[a[i]] = 1;
        moved += a[i] != i;
    }
    cr_expect_gt(moved, data.count * 9 / 10, "a shuffle moves almost everything");
    free(a), free(b), free(c), free(seen);
    dataset_close(&data);
}

Test(dataset, unknown_sources_are_named)
{
    dataset data;
    simclr_error err;
    cr_expect_eq(dataset_open(&data, "builtin:circles", 1, 0, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "builtin:circles"), "%s", err.message);
    cr_expect_eq(dataset_open(&data, "/nonexistent/data", 1, 0, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "/nonexistent/data"), "%s", err.message);
}

/* A folder of class sub-folders of PGM images (torchvision's ImageFolder layout): labels by
 * sorted folder name; a plain folder of images is one class; each image keeps its own size. */
Test(dataset, folders_of_pnm_images)
{
    const char *root = "/tmp/simclr_test_folder";
    float pixels[4 * 5];
    char path[256];
    dataset data;
    simclr_error err;
    float image[20];
    int c, i;
    cr_assert_eq(system("rm -rf /tmp/simclr_test_folder && mkdir -p /tmp/simclr_test_folder/zebra "
                        "/tmp/simclr_test_folder/apple"), 0);
    for (c = 0; c < 2; c++)
        for (i = 0; i < 3; i++) {
            int k;
            for (k = 0; k < 20; k++)
                pixels[k] = (float)((c * 50 + i * 10 + k) % 256) / 255.0f;
            sprintf(path, "%s/%s/img%d.pgm", root, c ? "zebra" : "apple", i);
            cr_assert_eq(image_write(path, pixels, 1, 4, 5, &err), SIMCLR_OK, "%s", err.message);
        }
    cr_assert_eq(dataset_open(&data, root, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(data.kind == DATASET_FOLDER && data.count == 6 && data.classes == 2);
    cr_expect(data.channels == 1 && data.height == 4 && data.width == 5);
    cr_expect_str_eq(data.names[0], "apple");
    cr_expect_str_eq(data.names[1], "zebra");
    cr_expect(dataset_label(&data, 0) == 0 && dataset_label(&data, 5) == 1);
    cr_assert_eq(dataset_image(&data, 4, image, NULL), SIMCLR_OK); /* zebra/img1.pgm */
    cr_expect_eq(image[3], (float)((50 + 10 + 3) % 256) / 255.0f);
    dataset_close(&data);

    cr_assert_eq(dataset_open(&data, "/tmp/simclr_test_folder/apple", 1, 0, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect(data.count == 3 && data.classes == 1);
    dataset_close(&data);

    cr_assert_eq(image_write("/tmp/simclr_test_folder/zebra/odd.pgm", pixels, 1, 5, 4, &err),
                 SIMCLR_OK);
    cr_assert_eq(dataset_open(&data, root, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(data.count == 7 && data.height == 0 && data.width == 0, "sizes differ: 0 x 0");
    cr_expect(data.max_height == 5 && data.max_width == 5 && data.max_pixels == 20);
    {
        size_t h, w;
        dataset_image_size(&data, 3, &h, &w); /* zebra/img0, img1, img2, odd: sorted */
        cr_expect(h == 4 && w == 5);
        dataset_image_size(&data, 6, &h, &w);
        cr_expect(h == 5 && w == 4, "zebra/odd.pgm keeps its 4x5: %zu x %zu", w, h);
        cr_expect_str_eq(dataset_image_name(&data, 6), "zebra/odd.pgm");
    }
    dataset_close(&data);
}
