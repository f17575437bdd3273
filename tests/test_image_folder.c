/*
 * tests/test_image_folder.c — image folders as users have them: PNG, JPEG, PPM and PGM files of
 * any size, in class sub-folders (torchvision's ImageFolder order), with DIR/train + DIR/val as
 * the two splits; files told by content, other files skipped and counted; decoding on the fly;
 * the evaluation view (Resize(⌊S/0.875⌋) + CenterCrop(S)); and a folder trained and evaluated
 * end to end by the program.
 */
#define _POSIX_C_SOURCE 200809L /* mkfifo */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_helpers.h"

#define ROOT_LIST "/tmp/simclr_test_folder_list"
#define ROOT_BAD "/tmp/simclr_test_folder_bad"
#define ROOT_SPLITS "/tmp/simclr_test_folder_splits"
#define ROOT_VIEWS "/tmp/simclr_test_folder_views"
#define ROOT_RUN "/tmp/simclr_test_folder_run"
#define JPEG_FIXTURE "tests/fixtures/jpeg/q75_420_33x65.jpg"

static int run(const char *command)
{
    const int status = system(command);
    cr_assert(status != -1 && WIFEXITED(status), "%s did not run", command);
    return WEXITSTATUS(status);
}

/* A smooth colour image of h × w written as PNG, PPM or PGM (by the path's extension). */
static void write_image(const char *path, size_t channels, size_t height, size_t width,
                        int seed)
{
    float *image = malloc(channels * height * width * sizeof *image);
    simclr_error err;
    size_t c, y, x;
    cr_assert_not_null(image);
    for (c = 0; c < channels; c++)
        for (y = 0; y < height; y++)
            for (x = 0; x < width; x++)
                image[(c * height + y) * width + x] =
                    (float)(0.5 + 0.45 * sin(0.3 * (double)(x + 2 * y + seed) + (double)c));
    cr_assert_eq(image_write(path, image, channels, height, width, &err), SIMCLR_OK, "%s",
                 err.message);
    free(image);
}

static void make_folder(const char *folder)
{
    char command[512];
    snprintf(command, sizeof command, "mkdir -p %s", folder);
    cr_assert_eq(run(command), 0);
}

/* ROOT/train/{cat,dog} and ROOT/val/{cat,dog}: PNG of three sizes, a JPEG per class, a PPM. */
static void make_split_dataset(const char *root)
{
    static const char *const splits[2] = {"train", "val"};
    static const char *const classes[2] = {"cat", "dog"};
    char path[512];
    int s, c, i;
    snprintf(path, sizeof path, "rm -rf %s", root);
    cr_assert_eq(run(path), 0);
    for (s = 0; s < 2; s++)
        for (c = 0; c < 2; c++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, splits[s], classes[c]);
            make_folder(path);
            for (i = 0; i < 4; i++) {
                snprintf(path, sizeof path, "%s/%s/%s/img%d.png", root, splits[s], classes[c], i);
                write_image(path, 3, 24 + 8 * (size_t)i, 40 - 4 * (size_t)i, 10 * c + i + s);
            }
            snprintf(path, sizeof path, "%s/%s/%s/other.ppm", root, splits[s], classes[c]);
            write_image(path, 3, 36, 36, 5 * c + s);
            snprintf(path, sizeof path, "cp " JPEG_FIXTURE " %s/%s/%s/photo.JPG", root, splits[s],
                     classes[c]);
            cr_assert_eq(run(path), 0);
        }
}

/* The ImageFolder conventions: classes sorted, a class's folders sorted by path and each
 * folder's files sorted; .PNG/.JPG of any case; other files and hidden ones skipped and
 * counted; the format told by content; each image its own size; gray only when all are. */
Test(image_folder, lists_like_torchvision_image_folder)
{
    dataset data;
    simclr_error err;
    size_t h, w;
    cr_assert_eq(run("rm -rf " ROOT_LIST " && mkdir -p " ROOT_LIST "/b/sub/deep '" ROOT_LIST "/b/sub 2' " ROOT_LIST
                     "/a"), 0);
    write_image(ROOT_LIST "/b/z.png", 3, 10, 12, 1);
    write_image(ROOT_LIST "/b/sub/deep/x.pgm", 1, 8, 8, 2);
    write_image(ROOT_LIST "/b/sub 2/y.png", 3, 9, 7, 3);
    write_image(ROOT_LIST "/b/sub/w.ppm", 3, 5, 6, 4);
    write_image(ROOT_LIST "/a/one.png", 3, 16, 16, 5);
    cr_assert_eq(run("cp " ROOT_LIST "/a/one.png " ROOT_LIST "/a/TWO.PNG && cp " JPEG_FIXTURE " " ROOT_LIST
                     "/a/three.jpeg && echo text > " ROOT_LIST "/a/notes.txt && cp " ROOT_LIST
                     "/a/one.png " ROOT_LIST "/a/.hidden.png && cp " ROOT_LIST "/a/one.png " ROOT_LIST
                     "/a/image.bmp"), 0);
    cr_assert_eq(dataset_open(&data, ROOT_LIST, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(data.kind, DATASET_FOLDER);
    cr_expect(data.classes == 2 && strcmp(data.names[0], "a") == 0 &&
              strcmp(data.names[1], "b") == 0);
    cr_assert_eq(data.count, 7, "%zu images", data.count);
    /* a: byte order puts upper case first; b: folders "b" < "b/sub" < "b/sub 2" <
     * "b/sub/deep" as strings (' ' sorts before '/'), each folder's files sorted */
    cr_expect_str_eq(dataset_image_name(&data, 0), "a/TWO.PNG");
    cr_expect_str_eq(dataset_image_name(&data, 1), "a/one.png");
    cr_expect_str_eq(dataset_image_name(&data, 2), "a/three.jpeg");
    cr_expect_str_eq(dataset_image_name(&data, 3), "b/z.png");
    cr_expect_str_eq(dataset_image_name(&data, 4), "b/sub/w.ppm");
    cr_expect_str_eq(dataset_image_name(&data, 5), "b/sub 2/y.png");
    cr_expect_str_eq(dataset_image_name(&data, 6), "b/sub/deep/x.pgm");
    cr_expect(dataset_label(&data, 2) == 0 && dataset_label(&data, 3) == 1);
    cr_expect_eq(data.skipped, 3, "notes.txt, .hidden.png and image.bmp: %zu", data.skipped);
    cr_expect(data.channels == 3 && data.height == 0 && data.width == 0, "sizes differ");
    dataset_image_size(&data, 2, &h, &w);
    cr_expect(h == 65 && w == 33, "the JPEG's own size: %zu x %zu", w, h);
    cr_expect(data.max_height == 65 && data.max_pixels == 65 * 33);
    {   /* the PGM as RGB: its gray value in every channel (Pillow's convert("RGB")) */
        float image[3 * 8 * 8];
        cr_assert_eq(dataset_image(&data, 6, image, &err), SIMCLR_OK, "%s", err.message);
        cr_expect(image[5] == image[64 + 5] && image[5] == image[128 + 5]);
    }
    cr_expect(!data.held_out, "one folder is both splits");
    dataset_close(&data);

    /* a symbolic link back up the tree is entered once (skipped and counted), not forever */
    cr_assert_eq(run("ln -s .. " ROOT_LIST "/b/sub/deep/up"), 0);
    cr_assert_eq(dataset_open(&data, ROOT_LIST, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(data.count == 7 && data.skipped == 4, "%zu images, %zu skipped", data.count,
              data.skipped);
    dataset_close(&data);
    cr_assert_eq(run("rm " ROOT_LIST "/b/sub/deep/up"), 0);

    /* gray only when every image is gray */
    cr_assert_eq(dataset_open(&data, ROOT_LIST "/b/sub/deep", 1, 0, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect(data.channels == 1 && data.classes == 1 && strcmp(data.names[0], "all") == 0);
    dataset_close(&data);
}

/* Every unreadable image names its file: a PNG with a flipped byte fails at listing (its header
 * CRC) or at decoding (its data), a FIFO is "not a regular file" and never blocks. */
Test(image_folder, bad_files_are_named, .timeout = HANG_GUARD_SECONDS)
{
    dataset data;
    simclr_error err;
    float *image;
    cr_assert_eq(run("rm -rf " ROOT_BAD " && mkdir -p " ROOT_BAD "/c"), 0);
    write_image(ROOT_BAD "/c/good.png", 3, 12, 12, 1);
    cr_assert_eq(run("head -c 20 " ROOT_BAD "/c/good.png > " ROOT_BAD "/c/short.png"), 0);
    cr_expect_eq(dataset_open(&data, ROOT_BAD, 1, 0, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "short.png"), "%s", err.message);

    cr_assert_eq(run("rm " ROOT_BAD "/c/short.png && mkfifo " ROOT_BAD "/c/pipe.png"), 0);
    cr_expect_eq(dataset_open(&data, ROOT_BAD, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(data.skipped, 1, "the FIFO is not listed as an image");
    dataset_close(&data);
    cr_expect_eq(file_read_all(ROOT_BAD "/c/pipe.png", 100, (uint8_t **)&image, &(size_t){0}, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "not a regular file"), "%s", err.message);

    /* a file name with a line break: the program's message stays on one line, escaped */
    cr_assert_neq(run("printf 'xx' > '" ROOT_BAD "/c/bad\nname.png' && ./simclr bench data --data "
                     ROOT_BAD " --reps 1 > /dev/null 2> " ROOT_BAD "/err.txt"), 0);
    cr_expect_eq(run("test $(wc -l < " ROOT_BAD "/err.txt) -eq 1 && grep -q 'bad\\\\x0aname.png' "
                     ROOT_BAD "/err.txt"), 0, "one line, the break written as \\x0a");
    cr_assert_eq(run("rm '" ROOT_BAD "/c/bad\nname.png' " ROOT_BAD "/err.txt"), 0);

    /* changed after listing: the decode error names the file */
    cr_assert_eq(run("rm " ROOT_BAD "/c/pipe.png"), 0);
    cr_assert_eq(dataset_open(&data, ROOT_BAD, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(run("printf 'garbage' > " ROOT_BAD "/c/good.png"), 0);
    image = calloc(3 * data.max_pixels, sizeof *image);
    cr_expect_eq(dataset_image(&data, 0, image, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "good.png"), "%s", err.message);
    free(image);
    dataset_close(&data);
}

/* DIR/train and DIR/val are the two splits, held out; the val split takes its class indices
 * from train's folders, and a val class that train lacks is an error. */
Test(image_folder, train_and_val_splits)
{
    dataset train, test;
    simclr_error err;
    make_split_dataset(ROOT_SPLITS);
    cr_assert_eq(dataset_open(&train, ROOT_SPLITS, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(dataset_open(&test, ROOT_SPLITS, 0, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(train.held_out && test.held_out);
    cr_expect(train.count == 12 && test.count == 12 && train.classes == 2 && test.classes == 2);
    cr_expect_not_null(strstr(train.folder, "/train"));
    cr_expect_not_null(strstr(test.folder, "/val"));
    dataset_close(&train);
    dataset_close(&test);
    /* a held-out folder of its own (--test-data) with only the "dog" class and gray images:
     * its labels are looked up by name (dog is class 1, not 0) and its images read as RGB */
    make_folder(ROOT_SPLITS "/extra/dog");
    write_image(ROOT_SPLITS "/extra/dog/d.pgm", 1, 9, 9, 3);
    cr_assert_eq(dataset_open(&train, ROOT_SPLITS, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(dataset_open(&test, ROOT_SPLITS "/extra", 0, 0, &err), SIMCLR_OK);
    cr_expect(test.channels == 1 && test.classes == 1 && dataset_label(&test, 0) == 0);
    cr_assert_eq(dataset_use_channels(&test, train.channels, "extra", &err), SIMCLR_OK);
    cr_assert_eq(dataset_match_classes(&test, &train, "extra", &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect(test.channels == 3 && test.classes == 2 && dataset_label(&test, 0) == 1 &&
              strcmp(test.names[1], "dog") == 0, "dog keeps the training split's index 1");
    dataset_close(&test);
    make_folder(ROOT_SPLITS "/extra/emu");
    write_image(ROOT_SPLITS "/extra/emu/e.pgm", 1, 9, 9, 4);
    cr_assert_eq(dataset_open(&test, ROOT_SPLITS "/extra", 0, 0, &err), SIMCLR_OK);
    cr_expect_eq(dataset_match_classes(&test, &train, "extra", &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "'emu'"), "%s", err.message);
    dataset_close(&test);
    dataset_close(&train);

    make_folder(ROOT_SPLITS "/val/emu");
    write_image(ROOT_SPLITS "/val/emu/e.png", 3, 8, 8, 1);
    cr_expect_eq(dataset_open(&test, ROOT_SPLITS, 0, 0, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "emu"), "%s", err.message);
}

/* The evaluation view equals the whole Resize(⌊S/0.875⌋) followed by the centre crop, with
 * torchvision's sizes: a 375 × 500 image at S = 224 resizes to 256 × 341 (⌊256·500/375⌋) and
 * crops rows 16 … 239 and columns 58 … 281 (round(58.5) = 58, halves to even). */
Test(image_folder, center_view_is_resize_then_centre_crop)
{
    const size_t C = 3, H = 75, W = 100, S = 32;
    size_t h2, w2, top, left, c, y, x;
    float *image = malloc(C * H * W * sizeof *image), *whole, *workspace, view[3 * 32 * 32];
    const aug_crop all = {0, 0, 75, 100};
    aug_center_view_size(375, 500, 224, &h2, &w2);
    cr_expect(h2 == 256 && w2 == 341, "%zu x %zu", h2, w2);
    aug_center_view_size(500, 375, 224, &h2, &w2);
    cr_expect(h2 == 341 && w2 == 256);
    aug_center_view_size(H, W, S, &h2, &w2); /* 36 × 48: ⌊32/0.875⌋ = 36, ⌊36·100/75⌋ = 48 */
    cr_assert(h2 == 36 && w2 == 48, "%zu x %zu", h2, w2);
    top = 2, left = 8; /* round(4/2) = 2, round(16/2) = 8 */
    test_fill_uniform(image, C * H * W, 0.0f, 1.0f, 71);
    whole = malloc(C * h2 * w2 * sizeof *whole);
    workspace = malloc(aug_resize_workspace_floats(C, H, w2) * sizeof *workspace);
    aug_resize(whole, image, C, H, W, all, h2, w2, workspace);
    aug_center_view(view, image, C, H, W, S, workspace);
    for (c = 0; c < C; c++)
        for (y = 0; y < S; y++)
            for (x = 0; x < S; x++)
                cr_assert_eq(view[(c * S + y) * S + x],
                             whole[(c * h2 + top + y) * w2 + left + x],
                             "(%zu, %zu, %zu): the same bits as cropping the whole resize", c, y, x);
    free(image), free(whole), free(workspace);

    /* a very tall image: only the rows under the kept ones are resized (2 × 100000 → 36 ×
     * 1800000, of which rows 899982 … 900013 are kept: about 2 input rows each side) */
    cr_expect_leq(aug_center_view_workspace_floats(3, 100000, 2, 32), 3 * 8 * 32);
    image = calloc(3 * 100000 * 2, sizeof *image);
    workspace = malloc(aug_center_view_workspace_floats(3, 100000, 2, 32) * sizeof *workspace);
    aug_center_view(view, image, 3, 100000, 2, 32, workspace);
    free(image), free(workspace);
}

/* The views of a batch of folder images (decoded on the fly, each its own size) are the same
 * bits for 1 and 2 threads, and equal aug_two_views on dataset_image's pixels. */
Test(image_folder, batch_of_views_any_thread_count)
{
    simclr_config config = simclr_config_default();
    simclr_model model;
    aug_config augment;
    aug_batch workspace;
    dataset data;
    simclr_error err;
    float *first, *views, *image, *scratch;
    size_t floats, b, h, w;
    int threads;
    make_split_dataset(ROOT_VIEWS);
    cr_assert_eq(dataset_open(&data, ROOT_VIEWS, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(aug_config_preset(&augment, "imagenet", &err), SIMCLR_OK);
    augment.size = 32;
    config.batch = 4;
    config.encoder.width = 0.0625;
    config.encoder.stem = STEM_CIFAR;
    config.height = config.width = 32;
    cr_assert_eq(simclr_model_create(&model, &config, &err), SIMCLR_OK, "%s", err.message);
    floats = 2 * 4 * 3 * 32 * 32;
    first = malloc(floats * sizeof *first);
    for (threads = 1; threads <= 2; threads++) {
        parallel_set_thread_count(threads);
        cr_assert_eq(aug_batch_create(&workspace, 4, &augment, &data, &err), SIMCLR_OK);
        dataset_epoch_order(&data, config.seed, 0, workspace.order);
        cr_assert_eq(simclr_batch_of_views(&model, &workspace, &data, NULL, 1, &augment, 0, &err),
                     SIMCLR_OK, "%s", err.message);
        if (threads == 1)
            memcpy(first, model.views, floats * sizeof *first);
        else
            cr_expect(memcmp(first, model.views, floats * sizeof *first) == 0,
                      "the same bits for 1 and 2 threads");
        if (threads == 2) { /* image b of step 1 by hand */
            views = calloc(floats, sizeof *views);
            image = calloc(3 * data.max_pixels, sizeof *image);
            scratch = calloc(aug_view_workspace_floats(&augment, 3, data.max_height,
                                                       data.max_width), sizeof *scratch);
            for (b = 0; b < 4; b++) {
                const size_t index = workspace.order[4 + b];
                dataset_image_size(&data, index, &h, &w);
                cr_assert_eq(dataset_image(&data, index, image, &err), SIMCLR_OK);
                aug_two_views(views, 4, b, image, 3, h, w, &augment, config.seed, 0, index,
                              scratch);
            }
            cr_expect(memcmp(views, model.views, floats * sizeof *views) == 0);
            free(views), free(image), free(scratch);
        }
        aug_batch_destroy(&workspace);
    }
    parallel_set_thread_count(2);
    free(first);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

/* The whole program on a folder of mixed-size PNG, JPEG and PPM images in class sub-folders
 * with train/ and val/: train, evaluate (a held-out "test" column), embed the test split with
 * its file paths and class names, embed with 1 and 2 threads (the same bytes); then a folder
 * without a held-out split says so. */
Test(image_folder, trains_and_evaluates_end_to_end, .timeout = HANG_GUARD_SECONDS)
{
    safetensors_file file;
    simclr_error err;
    const safetensors_tensor *paths, *classes;
    int i;
    make_split_dataset(ROOT_RUN);
    cr_assert_eq(run("./simclr train --data " ROOT_RUN " --out " ROOT_RUN "/run --epochs 1 --batch 4 "
                     "--width 0.0625 --size 32 --threads 2 > " ROOT_RUN "/train.txt 2>&1"), 0);
    cr_assert_eq(run("./simclr eval --checkpoint " ROOT_RUN "/run/checkpoint.safetensors "
                     "--probe knn > " ROOT_RUN "/eval.txt 2> " ROOT_RUN "/eval.err"), 0);
    cr_expect_eq(run("grep -Eq '^features +probe +train +test' " ROOT_RUN "/eval.txt"), 0);
    cr_expect_eq(run("grep -Eq '^simclr +knn +12 +12 ' " ROOT_RUN "/eval.txt"), 0);
    cr_assert_eq(run("./simclr embed --checkpoint " ROOT_RUN "/run/checkpoint.safetensors --split "
                     "test --out " ROOT_RUN "/features.safetensors > /dev/null 2>&1"), 0);
    cr_assert_eq(safetensors_read(&file, ROOT_RUN "/features.safetensors", &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect_null(safetensors_find(&file, "train.features"), "--split test: no train split");
    cr_expect_not_null(safetensors_find(&file, "test.features"));
    paths = safetensors_find(&file, "test.paths");
    classes = safetensors_find(&file, "classes");
    cr_assert(paths != NULL && classes != NULL);
    cr_expect(paths->dtype == ST_U8 && paths->shape[0] == 12);
    cr_expect_str_eq((const char *)file.data + paths->begin, "cat/img0.png");
    cr_expect_str_eq((const char *)file.data + classes->begin + classes->shape[1], "dog");
    cr_expect_str_eq(safetensors_metadata_value(&file, "held_out"), "1");
    safetensors_free(&file);
    cr_expect_eq(run("./simclr embed --checkpoint " ROOT_RUN "/run/checkpoint.safetensors --out "
                     ROOT_RUN "/run/checkpoint.safetensors > /dev/null 2>&1"), 2,
                 "--out equal to --checkpoint is refused");
    /* the evaluation views of images of very different heights (short and tall ones made
     * into views at once by two threads): the same bits for 1 and 2 threads */
    make_folder(ROOT_RUN "/mixed");
    for (i = 0; i < 40; i++) {
        char path[256];
        snprintf(path, sizeof path, ROOT_RUN "/mixed/%02d.png", i);
        write_image(path, 3, i % 2 ? 6 : 150, 40, i);
    }
    cr_assert_eq(run("./simclr embed --checkpoint " ROOT_RUN "/run/checkpoint.safetensors --data "
                     ROOT_RUN "/mixed --out " ROOT_RUN "/one.safetensors --threads 1 > /dev/null "
                     "2>&1 && ./simclr embed --checkpoint " ROOT_RUN "/run/checkpoint.safetensors "
                     "--data " ROOT_RUN "/mixed --out " ROOT_RUN "/two.safetensors --threads 2 "
                     "> /dev/null 2>&1"), 0);
    cr_expect_eq(run("cmp -s " ROOT_RUN "/one.safetensors " ROOT_RUN "/two.safetensors"), 0,
                 "embed: the same bytes for 1 and 2 threads");

    cr_assert_eq(run("./simclr eval --checkpoint " ROOT_RUN "/run/checkpoint.safetensors --data "
                     ROOT_RUN "/train --probe knn > " ROOT_RUN "/eval.txt 2> " ROOT_RUN "/eval.err"), 0);
    cr_expect_eq(run("grep -Eq '^features +probe +train +again' " ROOT_RUN "/eval.txt"), 0);
    cr_expect_eq(run("grep -q 'no held-out images' " ROOT_RUN "/eval.err"), 0);
    cr_assert_eq(run("./simclr eval --checkpoint " ROOT_RUN "/run/checkpoint.safetensors --data "
                     ROOT_RUN "/train --test-data " ROOT_RUN "/val --probe knn > " ROOT_RUN "/eval.txt 2> "
                     ROOT_RUN "/eval.err"), 0);
    cr_expect_eq(run("grep -Eq '^features +probe +train +test' " ROOT_RUN "/eval.txt"), 0);
}
