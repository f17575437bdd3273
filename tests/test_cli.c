/*
 * tests/test_cli.c — the `simclr` program as a user meets it: --help everywhere, exit status 0
 * only on success and 2 on bad usage, results on stdout, and the preview file it promises.
 * Runs the ./simclr built by `make test` (the test target depends on it).
 */
#include <criterion/criterion.h>
#include "test_helpers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *command)
{
    const int status = system(command);
    cr_assert(status != -1 && WIFEXITED(status), "%s did not run", command);
    return WEXITSTATUS(status);
}

Test(cli, help_on_every_command)
{
    cr_expect_eq(run("./simclr --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench gemm --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench step --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench augment --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench conv --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench data --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr bench embed --help > /dev/null"), 0);
    cr_expect_eq(run("./simclr augment --help > /dev/null"), 0);
}

Test(cli, bad_usage_exits_2_with_a_message)
{
    cr_expect_eq(run("./simclr > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr frobnicate > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr bench gemm --n 0 > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr bench gemm --n > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr bench step --arch resnet7 > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr bench conv --kernel 0 2>&1 | grep -q -- --kernel"), 0);
    cr_expect_eq(run("./simclr bench conv --size 2 --kernel 5 --padding 0 > /dev/null 2>&1"), 2,
                 "a kernel that does not fit the input");
    cr_expect_eq(run("./simclr bench data --data /no/such > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr augment > /dev/null 2>&1"), 2, "--out is required");
    cr_expect_eq(run("./simclr augment --out /tmp/simclr_cli.png --preset svhn > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr augment --out /tmp/simclr_cli.png --data /no/such > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr augment --out /tmp/simclr_cli.png --n 1 2> /tmp/simclr_cli.err "
                     "--views nine > /dev/null; grep -q -- --views /tmp/simclr_cli.err"), 0,
                 "the message names the flag");
}

Test(cli, augment_writes_a_png)
{
    FILE *file;
    unsigned char signature[8];
    cr_assert_eq(run("./simclr augment --out /tmp/simclr_cli_preview.png --n 2 --views 3 "
                     "> /dev/null"), 0);
    file = fopen("/tmp/simclr_cli_preview.png", "rb");
    cr_assert_not_null(file);
    cr_expect_eq(fread(signature, 1, 8, file), 8u);
    cr_expect(memcmp(signature, "\x89PNG\r\n\x1a\n", 8) == 0);
    fclose(file);
    remove("/tmp/simclr_cli_preview.png");
    cr_expect_eq(run("./simclr augment --out /nonexistent-dir/p.png --n 1 > /dev/null 2>&1"), 1,
                 "an unwritable file is a failure, not a crash");
}

Test(cli, augment_reads_fashion_mnist)
{
    cr_expect_eq(run("./simclr augment --data /usr/share/datasets/fashion-mnist --preset gray "
                     "--split test --n 2 --views 2 --out /tmp/simclr_cli_fashion.pgm > /dev/null"),
                 0, "a 1-channel dataset previews as PGM");
    remove("/tmp/simclr_cli_fashion.pgm");
}

Test(cli, bench_gemm_prints_a_result_line)
{
    cr_expect_eq(run("./simclr bench gemm --n 64 --reps 1 | grep -q 'gflops='"), 0);
}

Test(cli, bench_conv_embed_and_data_print_a_result_line)
{
    cr_expect_eq(run("./simclr bench conv --batch 2 --in 8 --out 8 --size 8 --reps 1 | "
                     "grep -Eq '^conv batch=2 .*algorithm=im2col forward_gflops=[0-9.]+ "
                     "backward_gflops=[0-9.]+'"),
                 0);
    cr_expect_eq(run("./simclr bench conv --batch 2 --in 16 --out 16 --size 8 --reps 1 | "
                     "grep -Eq '^conv batch=2 .*algorithm=winograd forward_gflops=[0-9.]+'"),
                 0);
    cr_expect_eq(run("./simclr bench embed --width 0.125 --batch 3 --steps 1 2>/dev/null | "
                     "grep -Eq '^simclr-c resnet18/cifar embed width=0.125 size=32 batch=3 "
                     ".*images_per_s=[0-9.]+ effective_gflops=[0-9.]+ peak_rss_mib=[0-9]+$'"),
                 0);
    cr_expect_eq(run("./simclr bench embed --size 4 > /dev/null 2>&1"), 2); /* below 8 */
    cr_expect_eq(run("./simclr bench data --reps 1 --limit 2000 | "
                     "grep -Eq '^data source=builtin:shapes images=2000 .*images_per_s=[0-9]+ "
                     "views_per_s=[0-9]+ \\(size 32,'"),
                 0);
}

/* Overrides reach the pipeline: with --p-gray 1 every view is gray (R = G = B), while the
 * original in the first column keeps its colours. Read back from a PPM. */
Test(cli, augmentation_overrides_apply)
{
    FILE *file;
    unsigned width, height, maxval, x, y, gray = 0, colour = 0;
    unsigned char *pixels;
    cr_assert_eq(run("./simclr augment --out /tmp/simclr_cli_gray.ppm --n 2 --views 3 "
                     "--p-gray 1 > /dev/null"), 0);
    file = fopen("/tmp/simclr_cli_gray.ppm", "rb");
    cr_assert_not_null(file);
    cr_assert_eq(fscanf(file, "P6 %u %u %u", &width, &height, &maxval), 3);
    fgetc(file);
    pixels = malloc(3u * width * height);
    cr_assert_eq(fread(pixels, 1, 3u * width * height, file), 3u * width * height);
    fclose(file);
    for (y = 0; y < height; y++)
        for (x = 0; x < width; x++) {
            const unsigned char *p = pixels + 3u * (y * width + x);
            const int equal = p[0] == p[1] && p[1] == p[2];
            if (x >= 40) /* past the original (2 + 32 + 2 + 2 pixels) */
                gray += equal;
            else if (!equal)
                colour++;
        }
    cr_expect_eq(gray, (width - 40) * height, "every view pixel is gray");
    cr_expect_gt(colour, 100u, "the originals keep their colours");
    free(pixels);
    remove("/tmp/simclr_cli_gray.ppm");
}

/* simclr finetune, eval and predict as a user meets them: a tiny run end to end (a tiny
 * pretraining, 2 epochs of fine-tuning on 4 images per class, a resume to a third epoch), the
 * files it promises, the classifier's own evaluation, predictions as CSV, and clear errors for
 * a checkpoint that is not an encoder, a fraction that leaves a class empty and data without
 * labels. Files: /tmp/simclr_cli_ft*. */
Test(cli, finetune_eval_and_predict, .timeout = HANG_GUARD_SECONDS)
{
    cr_expect_eq(run("./simclr finetune --help > /dev/null && ./simclr predict --help > /dev/null"),
                 0);
    cr_assert_eq(run("rm -rf /tmp/simclr_cli_ft* && ./simclr train --epochs 1 --limit 64 "
                     "--batch 16 --width 0.0625 --size 16 --out /tmp/simclr_cli_ftp --threads 2 "
                     "> /dev/null 2>&1"), 0);
    cr_expect_eq(run("grep -q '^step,epoch,loss,learning_rate,views_per_second,online_top1$' "
                     "/tmp/simclr_cli_ftp/log.csv"), 0, "the online classifier's column");
    cr_assert_eq(run("./simclr finetune --checkpoint /tmp/simclr_cli_ftp/checkpoint.safetensors "
                     "--labels 4 --batch 8 --epochs 3 --stop-after 2 --out /tmp/simclr_cli_ft "
                     "--threads 2 > /dev/null 2>&1"), 0);
    cr_expect_eq(run("test $(wc -l < /tmp/simclr_cli_ft/labelled.csv) -eq 25 && "
                     "grep -q '^step,epoch,loss,learning_rate,views_per_second,test_top1$' "
                     "/tmp/simclr_cli_ft/log.csv && test -f /tmp/simclr_cli_ft/loss.svg"), 0,
                 "labelled.csv (24 images and a header), log.csv with the test column, loss.svg");
    cr_assert_eq(run("./simclr finetune --resume /tmp/simclr_cli_ft/checkpoint.safetensors "
                     "--threads 1 > /tmp/simclr_cli_ft.out 2>/dev/null && "
                     "grep -q 'for 3 of 3 epochs' /tmp/simclr_cli_ft.out"), 0, "resumed to the end");
    cr_expect_eq(run("./simclr eval --checkpoint /tmp/simclr_cli_ft/checkpoint.safetensors --csv "
                     "| grep -q '^finetuned,fc,'"), 0, "the classifier's own accuracy");
    cr_expect_eq(run("./simclr predict --checkpoint /tmp/simclr_cli_ft/checkpoint.safetensors "
                     "--limit 5 --out /tmp/simclr_cli_ft.csv 2>/dev/null && "
                     "test $(wc -l < /tmp/simclr_cli_ft.csv) -eq 6 && "
                     "head -1 /tmp/simclr_cli_ft.csv | grep -q '^index,path,label,predicted,'"), 0);
    /* errors: exit 1 with a message naming the problem */
    cr_expect_eq(run("./simclr finetune --checkpoint /tmp/simclr_cli_ft/checkpoint.safetensors "
                     "--out /tmp/simclr_cli_ft2 2>&1 | grep -q 'is not an encoder'"), 0);
    cr_expect_eq(run("./simclr finetune --checkpoint /tmp/simclr_cli_ftp/checkpoint.safetensors "
                     "--labels 0.001% --out /tmp/simclr_cli_ft3 2>&1 | grep -q \"class 'disc'\""),
                 0, "a fraction that leaves a class empty");
    cr_expect_eq(run("mkdir -p /tmp/simclr_cli_ft_flat && ./simclr augment --n 2 --views 1 "
                     "--out /tmp/simclr_cli_ft_flat/a.ppm > /dev/null 2>&1 && "
                     "./simclr finetune --checkpoint /tmp/simclr_cli_ftp/checkpoint.safetensors "
                     "--data /tmp/simclr_cli_ft_flat --test-data /tmp/simclr_cli_ft_flat "
                     "--out /tmp/simclr_cli_ft4 2>&1 | grep -q 'needs labels'"), 0,
                 "an image folder without classes");
    cr_expect_eq(run("./simclr predict --checkpoint /tmp/simclr_cli_ftp/checkpoint.safetensors "
                     "> /dev/null 2>&1"), 1, "an encoder has no classifier");
    run("rm -rf /tmp/simclr_cli_ft*");
}
