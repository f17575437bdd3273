/*
 * tests/test_inflate.c — DEFLATE and gzip (data/inflate.h): files made by the system's gzip at
 * levels 1 and 9 (tests/fixtures, with the original), a fixed-Huffman stream, a stored stream
 * built by hand, and every kind of corrupt input rejected with the file named.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

static void check_fixture(const char *gz_path)
{
    size_t plain_size, gz_size, out_size;
    uint8_t *plain = test_load_file("tests/fixtures/inflate_sample.bin", &plain_size);
    uint8_t *gz = test_load_file(gz_path, &gz_size), *out;
    simclr_error err;
    cr_assert_eq(gzip_decompress(&out, &out_size, gz, gz_size, 1 << 20, gz_path, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect_eq(out_size, plain_size);
    cr_expect(memcmp(out, plain, plain_size) == 0, "%s is not byte-exact", gz_path);
    simclr_free(out);
    free(plain), free(gz);
}

/* gzip -1 -n and gzip -9 -n of an 11 KB sample of text, random bytes and runs. */
Test(inflate, gzip_level_1_byte_exact) { check_fixture("tests/fixtures/inflate_sample_1.gz"); }
Test(inflate, gzip_level_9_byte_exact) { check_fixture("tests/fixtures/inflate_sample_9.gz"); }

/* gzip's output for a 20-byte string is a single fixed-Huffman block (BTYPE 01, checked). */
Test(inflate, fixed_huffman_block)
{
    size_t gz_size, out_size;
    uint8_t *gz = test_load_file("tests/fixtures/fixed_block.gz", &gz_size), *out;
    simclr_error err;
    cr_assert_eq((gz[10] >> 1) & 3, 1, "the fixture must hold a fixed-Huffman block");
    cr_assert_eq(gzip_decompress(&out, &out_size, gz, gz_size, 1024, "fixed_block.gz", &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(out_size, 20u);
    cr_expect(memcmp(out, "hello, hello, hello!", 20) == 0);
    simclr_free(out);
    free(gz);
}

/* Two stored blocks by hand (RFC 1951 §3.2.4): "abc" (BFINAL 0), then "de" (BFINAL 1). */
Test(inflate, stored_blocks)
{
    const uint8_t stream[] = {0x00, 3, 0, 0xfc, 0xff, 'a', 'b', 'c',
                              0x01, 2, 0, 0xfd, 0xff, 'd', 'e'};
    uint8_t out[16];
    size_t out_size, consumed;
    simclr_error err;
    cr_assert_eq(inflate_raw(out, sizeof out, &out_size, stream, sizeof stream, &consumed, "s",
                             &err), SIMCLR_OK, "%s", err.message);
    cr_expect(out_size == 5 && memcmp(out, "abcde", 5) == 0 && consumed == sizeof stream);
}

static void expect_rejected(const uint8_t *stream, size_t size, const char *what,
                            const char *reason)
{
    uint8_t out[4096];
    size_t out_size, consumed;
    simclr_error err;
    memset(&err, 0, sizeof err);
    cr_expect_eq(inflate_raw(out, sizeof out, &out_size, stream, size, &consumed, "corrupt.gz",
                             &err), SIMCLR_FAILED, "%s must be rejected", what);
    cr_expect_not_null(strstr(err.message, "corrupt.gz"), "%s: %s", what, err.message);
    cr_expect_not_null(strstr(err.message, reason), "%s: %s", what, err.message);
}

Test(inflate, corrupt_streams_are_rejected)
{
    /* BFINAL 1, BTYPE 11 */
    const uint8_t bad_type[] = {0x07, 0x00};
    /* a dynamic block whose 19 code-length code lengths are all 1: over-subscribed
     * (BFINAL 1, BTYPE 10, HLIT 0, HDIST 0, HCLEN 15, then 19 × '001') */
    const uint8_t oversubscribed[] = {0x05, 0xe0, 0x93, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24};
    /* a fixed block that starts with a match (length 3, distance 1) before any literal:
     * BFINAL 1, BTYPE 01, length symbol 257 = 7-bit 0000001, distance 0 = 5-bit 00000 */
    const uint8_t far_distance[] = {0x03, 0x02, 0x00, 0x00};
    /* a stored block whose NLEN is not ~LEN */
    const uint8_t bad_nlen[] = {0x01, 3, 0, 0xfc, 0xfe, 'a', 'b', 'c'};
    /* a stored block announcing more bytes than there are */
    const uint8_t short_stored[] = {0x01, 9, 0, 0xf6, 0xff, 'a', 'b'};
    expect_rejected(bad_type, sizeof bad_type, "block type 3", "block type 3");
    expect_rejected(oversubscribed, sizeof oversubscribed, "over-subscribed code lengths",
                    "subscribes");
    expect_rejected(far_distance, sizeof far_distance, "a distance beyond the window",
                    "before the start of the output");
    expect_rejected(bad_nlen, sizeof bad_nlen, "LEN/NLEN mismatch", "complement");
    expect_rejected(short_stored, sizeof short_stored, "a truncated stored block", "ends early");
    expect_rejected(bad_type, 0, "an empty stream", "ends early");
}

Test(inflate, gzip_checks_crc_isize_magic_and_truncation)
{
    size_t gz_size, out_size, cut;
    uint8_t *gz = test_load_file("tests/fixtures/inflate_sample_9.gz", &gz_size), *out = NULL;
    simclr_error err;
    gz[gz_size - 5] ^= 0x01; /* CRC-32 */
    cr_expect_eq(gzip_decompress(&out, &out_size, gz, gz_size, 1 << 20, "a.gz", &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "CRC"), "%s", err.message);
    gz[gz_size - 5] ^= 0x01;
    gz[gz_size - 2] ^= 0x01; /* ISIZE */
    cr_expect_eq(gzip_decompress(&out, &out_size, gz, gz_size, 1 << 20, "a.gz", &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "ISIZE"), "%s", err.message);
    gz[gz_size - 2] ^= 0x01;
    gz[0] = 0x1e; /* magic */
    cr_expect_eq(gzip_decompress(&out, &out_size, gz, gz_size, 1 << 20, "a.gz", &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "magic"), "%s", err.message);
    gz[0] = 0x1f;
    for (cut = 1; cut < gz_size; cut += gz_size / 7) { /* truncated at several offsets */
        cr_expect_eq(gzip_decompress(&out, &out_size, gz, cut, 1 << 20, "cut.gz", &err),
                     SIMCLR_FAILED, "cut at %zu", cut);
        cr_expect_not_null(strstr(err.message, "cut.gz"), "%s", err.message);
    }
    cr_expect_eq(gzip_decompress(&out, &out_size, gz, gz_size, 1000, "big.gz", &err),
                 SIMCLR_FAILED, "the output limit holds");
    cr_expect_not_null(strstr(err.message, "limit"), "%s", err.message);
    /* two members concatenated decode to the two payloads */
    {
        uint8_t *twice = malloc(2 * gz_size), *plain;
        size_t plain_size;
        memcpy(twice, gz, gz_size);
        memcpy(twice + gz_size, gz, gz_size);
        cr_assert_eq(gzip_decompress(&out, &out_size, twice, 2 * gz_size, 1 << 20, "b.gz", &err),
                     SIMCLR_OK, "%s", err.message);
        plain = test_load_file("tests/fixtures/inflate_sample.bin", &plain_size);
        cr_expect(out_size == 2 * plain_size && memcmp(out + plain_size, plain, plain_size) == 0);
        simclr_free(out);
        free(twice), free(plain);
    }
    free(gz);
}
