/*
 * tests/test_cifar.c — CIFAR binary batches (data/cifar.h) and ustar (data/tar.h): a small
 * archive built here in the exact CIFAR layout (the system's tar and gzip pack it) loads with the
 * right labels and planes, from the .tar.gz and from the directory; bad archives are rejected.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_helpers.h"

#define ROOT "/tmp/simclr_test_cifar"

/* Record r of batch b: label (b·3 + r) mod classes; plane c byte p = (b + r + c·7 + p) mod 251. */
static void write_batch(const char *path, int b, int records, int hundred)
{
    FILE *file = fopen(path, "wb");
    int r, c, p;
    cr_assert_not_null(file, "%s", path);
    for (r = 0; r < records; r++) {
        if (hundred)
            fputc((b * 3 + r) % 20, file); /* coarse */
        fputc((b * 3 + r) % (hundred ? 100 : 10), file);
        for (c = 0; c < 3; c++)
            for (p = 0; p < 1024; p++)
                fputc((b + r + c * 7 + p) % 251, file);
    }
    fclose(file);
}

/* Each test builds its own copy under ROOT-<suffix>: Criterion runs tests in parallel. */
static void make_cifar10(const char *root)
{
    char path[512], command[1024];
    int b;
    sprintf(command, "rm -rf %s && mkdir -p %s/cifar-10-batches-bin", root, root);
    cr_assert_eq(system(command), 0);
    for (b = 1; b <= 5; b++) {
        sprintf(path, "%s/cifar-10-batches-bin/data_batch_%d.bin", root, b);
        write_batch(path, b, 2, 0);
    }
    sprintf(path, "%s/cifar-10-batches-bin/test_batch.bin", root);
    write_batch(path, 9, 3, 0);
    sprintf(command, "tar czf %s/cifar-10-binary.tar.gz -C %s cifar-10-batches-bin", root, root);
    cr_assert_eq(system(command), 0);
}

static void check_cifar10(const cifar_split *train, const cifar_split *test)
{
    int i, b, r;
    cr_expect_eq(train->count, 10u);
    cr_expect_eq(test->count, 3u);
    for (b = 1, i = 0; b <= 5; b++)
        for (r = 0; r < 2; r++, i++) {
            cr_expect_eq(train->labels[i], (b * 3 + r) % 10, "label %d", i);
            /* R plane starts at byte 0, G at 1024, B at 2048 */
            cr_expect_eq(train->images[i * 3072 + 0], (b + r) % 251);
            cr_expect_eq(train->images[i * 3072 + 1024 + 5], (b + r + 7 + 5) % 251);
            cr_expect_eq(train->images[i * 3072 + 2048 + 1023], (b + r + 14 + 1023) % 251);
        }
    cr_expect_eq(test->labels[2], (9 * 3 + 2) % 10);
    cr_expect_str_eq(train->names[0], "airplane");
    cr_expect_str_eq(train->names[9], "truck");
}

Test(cifar, cifar10_from_archive_and_directory)
{
    cifar_split train, test;
    simclr_error err;
    make_cifar10(ROOT "-load");
    cr_assert_eq(cifar_load(&train, ROOT "-load/cifar-10-binary.tar.gz", 0, 1, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_assert_eq(cifar_load(&test, ROOT "-load/cifar-10-binary.tar.gz", 0, 0, &err), SIMCLR_OK,
                 "%s", err.message);
    check_cifar10(&train, &test);
    cifar_split_free(&train), cifar_split_free(&test);
    cr_assert_eq(cifar_load(&train, ROOT "-load/cifar-10-batches-bin", 0, 1, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_assert_eq(cifar_load(&test, ROOT "-load/cifar-10-batches-bin", 0, 0, &err), SIMCLR_OK,
                 "%s", err.message);
    check_cifar10(&train, &test);
    cifar_split_free(&train), cifar_split_free(&test);
}

/* The dataset interface recognises the archive and the directory by their names. */
Test(cifar, through_the_dataset_interface)
{
    dataset data;
    simclr_error err;
    float image[3072];
    make_cifar10(ROOT "-interface");
    cr_assert_eq(dataset_open(&data, ROOT "-interface/cifar-10-binary.tar.gz", 1, 0, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect(data.kind == DATASET_CIFAR10 && data.count == 10 && data.channels == 3 &&
              data.classes == 10);
    cr_expect_eq(dataset_label(&data, 3), (2 * 3 + 1) % 10);
    cr_assert_eq(dataset_image(&data, 3, image, NULL), SIMCLR_OK);
    cr_expect_eq(image[1024], (float)((2 + 1 + 7) % 251) / 255.0f, "G plane, first pixel");
    dataset_close(&data);
    cr_assert_eq(dataset_open(&data, ROOT "-interface/cifar-10-batches-bin", 0, 0, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(data.count, 3u);
    dataset_close(&data);
}

Test(cifar, cifar100_fine_labels_and_names)
{
    cifar_split train;
    simclr_error err;
    FILE *names;
    cr_assert_eq(system("rm -rf " ROOT "100 && mkdir -p " ROOT "100/cifar-100-binary"), 0);
    write_batch(ROOT "100/cifar-100-binary/train.bin", 40, 4, 1);
    write_batch(ROOT "100/cifar-100-binary/test.bin", 41, 1, 1);
    names = fopen(ROOT "100/cifar-100-binary/fine_label_names.txt", "w");
    cr_assert_not_null(names);
    for (int i = 0; i < 100; i++)
        fprintf(names, "name%d\n", i);
    fclose(names);
    cr_assert_eq(system("tar czf " ROOT "100/cifar-100-binary.tar.gz -C " ROOT "100"
                        " cifar-100-binary"), 0);
    cr_assert_eq(cifar_load(&train, ROOT "100/cifar-100-binary.tar.gz", 1, 1, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect_eq(train.count, 4u);
    cr_expect_eq(train.classes, 100);
    cr_expect_eq(train.labels[3], (40 * 3 + 3) % 100, "the fine label, not the coarse one");
    cr_expect_str_eq(train.names[57], "name57");
    cifar_split_free(&train);
}

Test(cifar, bad_batches_and_archives_are_rejected)
{
    cifar_split split;
    simclr_error err;
    FILE *file;
    make_cifar10(ROOT "-bad");
    /* a batch that is not a whole number of records */
    file = fopen(ROOT "-bad/cifar-10-batches-bin/data_batch_3.bin", "ab");
    fputc(1, file);
    fclose(file);
    cr_expect_eq(cifar_load(&split, ROOT "-bad/cifar-10-batches-bin", 0, 1, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "data_batch_3.bin"), "%s", err.message);
    cr_expect_not_null(strstr(err.message, "whole number"), "%s", err.message);
    /* a missing batch */
    remove(ROOT "-bad/cifar-10-batches-bin/data_batch_5.bin");
    cr_expect_eq(cifar_load(&split, ROOT "-bad/cifar-10-batches-bin", 0, 1, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "data_batch_"), "%s", err.message);
    /* an archive that does not exist / is not gzip */
    cr_expect_eq(cifar_load(&split, ROOT "-bad/none.tar.gz", 0, 1, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "none.tar.gz"), "%s", err.message);
}

/* ustar: a header with one byte changed fails its checksum; an archive cut inside a member has
 * that member running past the end. Both name the archive. */
Test(tar, bad_checksum_and_member_past_the_end)
{
    size_t size, offset = 0;
    uint8_t *archive;
    tar_member member;
    simclr_error err;
    make_cifar10(ROOT "-tar");
    cr_assert_eq(system("tar cf " ROOT "-tar/plain.tar -C " ROOT "-tar cifar-10-batches-bin"), 0);
    cr_assert_eq(file_read_all(ROOT "-tar/plain.tar", 1 << 24, &archive, &size, &err), SIMCLR_OK);
    cr_assert_eq(tar_next(archive, size, &offset, &member, "plain.tar", &err), 1, "%s",
                 err.message);
    offset = 0;
    archive[10] ^= 0x20; /* inside the name field */
    cr_expect_eq(tar_next(archive, size, &offset, &member, "plain.tar", &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "checksum"), "%s", err.message);
    cr_expect_not_null(strstr(err.message, "plain.tar"), "%s", err.message);
    archive[10] ^= 0x20;
    {
        /* find the first regular member and cut the archive in the middle of its data */
        size_t start;
        int found = 0;
        offset = 0;
        while (!found && tar_next(archive, size, &offset, &member, "plain.tar", &err) == 1)
            found = member.regular && member.size > 1000;
        cr_assert(found);
        start = (size_t)(member.data - archive);
        offset = start - 512;
        cr_expect_eq(tar_next(archive, start + 100, &offset, &member, "cut.tar", &err),
                     SIMCLR_FAILED);
        cr_expect_not_null(strstr(err.message, "past the end"), "%s", err.message);
    }
    simclr_free(archive);
}
