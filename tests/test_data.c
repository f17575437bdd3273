/*
 * tests/test_data.c — the built-in shapes dataset (data/shapes.h) and the image writers
 * (data/image_io.h): published checksum known answers, and PNG/PPM files read back byte by byte.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

Test(shapes, deterministic_balanced_and_in_range)
{
    float a[3 * 32 * 32], b[3 * 32 * 32];
    int counts[SHAPES_CLASSES] = {0};
    size_t i, k;
    for (i = 0; i < 60; i++) {
        const int label = shapes_image(a, 7, SHAPES_TRAIN, i, 32);
        cr_assert(label >= 0 && label < SHAPES_CLASSES);
        counts[label]++;
        cr_assert_eq(shapes_image(b, 7, SHAPES_TRAIN, i, 32), label);
        cr_assert(memcmp(a, b, sizeof a) == 0, "image %zu is not reproducible", i);
        for (k = 0; k < 3 * 32 * 32; k++)
            cr_assert(a[k] >= 0.0f && a[k] <= 1.0f);
    }
    for (i = 0; i < SHAPES_CLASSES; i++)
        cr_expect_eq(counts[i], 10);
    shapes_image(b, 8, SHAPES_TRAIN, 0, 32);
    shapes_image(a, 7, SHAPES_TRAIN, 0, 32);
    cr_expect(memcmp(a, b, sizeof a) != 0, "the seed matters");
    shapes_image(b, 7, SHAPES_TEST, 0, 32);
    cr_expect(memcmp(a, b, sizeof a) != 0, "the splits differ");
    cr_expect_str_eq(shapes_class_name(2), "triangle");
}

/* The shape is visible: the foreground differs from the background by at least 0.3 per channel
 * (before noise), so the image's per-channel range is wide. */
Test(shapes, shape_stands_out)
{
    float image[3 * 32 * 32];
    size_t i, c, k;
    for (i = 0; i < 30; i++) {
        shapes_image(image, 1, SHAPES_TEST, i, 32);
        for (c = 0; c < 3; c++) {
            float low = 1, high = 0;
            for (k = 0; k < 32 * 32; k++) {
                low = fminf(low, image[c * 1024 + k]);
                high = fmaxf(high, image[c * 1024 + k]);
            }
            cr_expect_gt(high - low, 0.25f, "image %zu channel %zu", i, c);
        }
    }
}

/* CRC-32 (ISO-HDLC) check value: "123456789" → 0xCBF43926 (the CRC catalogue's check);
 * Adler-32 of "Wikipedia" → 0x11E60398 (RFC 1950's algorithm, the usual worked example). */
Test(image_io, checksum_known_answers)
{
    cr_expect_eq(crc32_update(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    cr_expect_eq(adler32_update(1, (const uint8_t *)"Wikipedia", 9), 0x11E60398u);
    cr_expect_eq(crc32_update(crc32_update(0, (const uint8_t *)"1234", 4),
                              (const uint8_t *)"56789", 5), 0xCBF43926u, "incremental");
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    unsigned char *bytes;
    long length;
    cr_assert_not_null(file, "%s", path);
    fseek(file, 0, SEEK_END);
    length = ftell(file);
    fseek(file, 0, SEEK_SET);
    bytes = malloc((size_t)length);
    cr_assert_eq(fread(bytes, 1, (size_t)length, file), (size_t)length);
    fclose(file);
    *size = (size_t)length;
    return bytes;
}

static uint32_t big_endian(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A 3×2 RGB PNG read back: signature, IHDR, every chunk's CRC, the stored block, the scanlines
 * with filter 0, the Adler-32 — and no temporary file left behind. */
Test(image_io, png_reads_back)
{
    const char *path = "/tmp/simclr_test_png_reads_back.png";
    const float image[18] = {0, 1, 0.5f, /* R row 0 */ 1, 0, 0.25f, /* R row 1 */
                             0, 0, 0, 0, 0, 0, /* G */ 1, 1, 1, 1, 1, 1 /* B */};
    unsigned char *bytes, *chunk, *idat = NULL;
    size_t size, offset = 8, idat_length = 0;
    simclr_error err;
    cr_assert_eq(image_write(path, image, 3, 2, 3, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(test_leftover_temporaries(path), 0, "the temporary file must be renamed away");
    bytes = read_file(path, &size);
    cr_expect(memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0);
    while (offset + 12 <= size) {
        const uint32_t length = big_endian(bytes + offset);
        chunk = bytes + offset + 4;
        cr_assert(offset + 12 + length <= size);
        cr_expect_eq(crc32_update(0, chunk, 4 + length), big_endian(chunk + 4 + length),
                     "CRC of chunk %.4s", (const char *)chunk);
        if (memcmp(chunk, "IHDR", 4) == 0) {
            cr_expect(big_endian(chunk + 4) == 3 && big_endian(chunk + 8) == 2);
            cr_expect(chunk[12] == 8 && chunk[13] == 2 && chunk[16] == 0);
        }
        if (memcmp(chunk, "IDAT", 4) == 0)
            idat = chunk + 4, idat_length = length;
        offset += 12 + length;
    }
    cr_expect_eq(offset, size, "IEND ends the file");
    cr_assert_not_null(idat);
    /* zlib header, one final stored block of 2 × (1 + 9) = 20 bytes, Adler-32 */
    cr_expect(idat[0] == 0x78 && (idat[0] * 256 + idat[1]) % 31 == 0);
    cr_expect(idat[2] == 1 && idat[3] == 20 && idat[4] == 0 && idat[5] == 0xeb && idat[6] == 0xff);
    cr_expect_eq(idat_length, 2u + 5 + 20 + 4);
    {
        const unsigned char want[20] = {0, 0, 0, 255, 255, 0, 255, 128, 0, 255,
                                        0, 255, 0, 255, 0, 0, 255, 64, 0, 255};
        cr_expect(memcmp(idat + 7, want, 20) == 0, "scanlines");
        cr_expect_eq(adler32_update(1, want, 20), big_endian(idat + 27));
    }
    free(bytes);
    remove(path);
}

Test(image_io, pgm_reads_back_and_bad_requests_fail)
{
    const char *path = "/tmp/simclr_test_pgm.pgm";
    const float image[4] = {0, 0.5f, 1, 2};
    unsigned char *bytes;
    size_t size;
    simclr_error err;
    cr_assert_eq(image_write(path, image, 1, 2, 2, &err), SIMCLR_OK, "%s", err.message);
    bytes = read_file(path, &size);
    cr_expect_eq(size, 11u + 4);
    cr_expect(memcmp(bytes, "P5\n2 2\n255\n", 11) == 0);
    cr_expect(bytes[11] == 0 && bytes[12] == 128 && bytes[13] == 255 && bytes[14] == 255);
    free(bytes);
    remove(path);
    cr_expect_eq(image_write("/tmp/simclr_test_bad.ppm", image, 1, 2, 2, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "/tmp/simclr_test_bad.ppm"), "%s", err.message);
    cr_expect_eq(image_write("/nonexistent-directory/x.png", image, 1, 2, 2, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "nonexistent-directory"), "%s", err.message);
}

/* A PPM written by image_write reads back to the same bytes (values k/255 exactly). */
Test(image_io, ppm_round_trip)
{
    const char *path = "/tmp/simclr_test_round_trip.ppm";
    float image[3 * 2 * 3], *back;
    size_t channels, height, width, i;
    simclr_error err;
    for (i = 0; i < 18; i++)
        image[i] = (float)(i * 13 % 256) / 255.0f;
    cr_assert_eq(image_write(path, image, 3, 2, 3, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(image_read_pnm(path, &back, &channels, &height, &width, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect(channels == 3 && height == 2 && width == 3);
    for (i = 0; i < 18; i++)
        cr_expect_eq(back[i], image[i], "value %zu", i);
    simclr_free(back);
    remove(path);
}

static void expect_bad_pnm(const char *text, size_t size, const char *reason)
{
    float *image;
    size_t c, h, w;
    simclr_error err;
    memset(&err, 0, sizeof err);
    cr_expect_eq(image_parse_pnm((const uint8_t *)text, size, "bad.ppm", &image, &c, &h, &w,
                                 &err), SIMCLR_FAILED, "%s", reason);
    cr_expect_not_null(strstr(err.message, "bad.ppm"), "%s", err.message);
    cr_expect_not_null(strstr(err.message, reason), "wanted '%s': %s", reason, err.message);
}

Test(image_io, pnm_with_comments_and_bad_headers)
{
    const char good[] = "P5\n# a comment\n2 1\n255\n\x10\x20";
    float *image;
    size_t c, h, w;
    simclr_error err;
    cr_assert_eq(image_parse_pnm((const uint8_t *)good, sizeof good - 1, "good.pgm", &image, &c,
                                 &h, &w, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(c == 1 && h == 1 && w == 2 && image[1] == 32.0f / 255.0f);
    simclr_free(image);
    expect_bad_pnm("P3\n2 1\n255\n12", 14, "wrong magic");
    expect_bad_pnm("P5\n2 1\n65535\n\x10\x20\x10\x20", 17, "maxval");
    expect_bad_pnm("P5\n-2 1\n255\n\x10\x20", 13, "positive");
    expect_bad_pnm("P5\n99999999 1\n255\n\x10", 20, "outside");
    expect_bad_pnm("P5\n0 1\n255\n", 11, "outside");
    expect_bad_pnm("P5\n2 2\n255\n\x10\x20", 13, "truncated");
    expect_bad_pnm("P5\n1 1\n255\n\x10\x20", 13, "trailing");
    expect_bad_pnm("P6\n2 1\n", 8, "maxval");
}
