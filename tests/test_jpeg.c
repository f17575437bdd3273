/*
 * tests/test_jpeg.c — the JPEG decoder (data/jpeg.h) against Pillow, and against bad input.
 *
 * The fixtures (tests/fixtures/jpeg, made by make_fixtures.py there with Pillow 9.4 and
 * libjpeg-turbo 2.1.5's cjpeg) cover qualities 30..100, subsamplings 4:4:4, 4:2:2, 4:2:0,
 * 4:4:0, 4:1:1, 4:1:0, 3×2 and a luma sampled below its chroma, progressive files (Pillow's
 * and a hand-written scan script with spectral selection and successive approximation),
 * restart intervals, Adobe RGB, a sequential file with one scan per component, 16-bit
 * quantisation tables (SOF1) and grayscale, at sizes from 1×1 to 64×48 that leave partial
 * MCUs. Each must decode to exactly Pillow's Image.open(f).convert("RGB") pixels (and "L" for
 * gray images): the decoder aims at identical pixels, so the tolerance is zero; on a mismatch
 * the test reports the largest and the mean absolute difference.
 *
 * Hostile input is made from valid fixtures: truncated at every offset, tables corrupted,
 * markers swapped or repeated, scan parameters out of range, sizes zero or huge, features that
 * are refused (arithmetic coding, 12-bit samples, CMYK, lossless, hierarchical). Each must fail
 * with one line that names the file, never crash (tests/check_sanitize.sh runs this under ASan
 * and UBSan).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"
#include "data/jpeg.h"

#define FIXTURES "tests/fixtures/jpeg/"

static uint8_t *load_fixture(const char *name, size_t *size)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s.jpg", name);
    return test_load_file(path, size);
}

/* The pixels of a binary PPM (P6) or PGM (P5) written by make_fixtures.py. */
static uint8_t *load_expected(const char *path, size_t *height, size_t *width, size_t *channels)
{
    size_t size, header = 0;
    uint8_t *bytes = test_load_file(path, &size);
    unsigned w, h, max;
    int newlines = 0;
    cr_assert(sscanf((const char *)bytes + 1, "%*c %u %u %u", &w, &h, &max) == 3, "%s", path);
    while (newlines < 3 && header < size)
        newlines += bytes[header++] == '\n';
    *channels = bytes[1] == '6' ? 3 : 1;
    *height = h;
    *width = w;
    cr_assert_eq(size - header, (size_t)w * h * *channels, "%s", path);
    memmove(bytes, bytes + header, size - header);
    return bytes;
}

/* Decodes NAME.jpg to `channels` and compares with the expected file; returns the largest
 * absolute difference (and the mean through *mean). */
static int compare_with_pillow(const char *name, size_t channels, double *mean)
{
    char path[256];
    size_t size, height, width, expected_height, expected_width, expected_channels, i;
    uint8_t *jpeg = load_fixture(name, &size), *pixels, *expected;
    simclr_error err;
    double sum = 0;
    int largest = 0;
    snprintf(path, sizeof path, FIXTURES "%s.%s", name, channels == 3 ? "ppm" : "pgm");
    expected = load_expected(path, &expected_height, &expected_width, &expected_channels);
    cr_assert_eq(jpeg_decode(jpeg, size, name, channels, 1 << 20, &pixels, &height, &width, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert(height == expected_height && width == expected_width, "%s: %zux%zu, Pillow %zux%zu",
              name, width, height, expected_width, expected_height);
    for (i = 0; i < height * width * channels; i++) {
        const int difference = abs((int)pixels[i] - (int)expected[i]);
        largest = difference > largest ? difference : largest;
        sum += difference;
    }
    *mean = sum / (double)(height * width * channels);
    simclr_free(pixels);
    free(jpeg), free(expected);
    return largest;
}

/* Every fixture of list.txt ("NAME WIDTH HEIGHT KIND"): identical to Pillow, RGB and (gray
 * images) L; the header reader agrees on the size. */
Test(jpeg, fixtures_identical_to_pillow)
{
    FILE *list = fopen(FIXTURES "list.txt", "r");
    char name[128], kind[64];
    unsigned width, height;
    int count = 0, gray_count = 0;
    cr_assert_not_null(list);
    while (fscanf(list, "%127s %u %u %63[^\n]", name, &width, &height, kind) == 4) {
        size_t size, header_height, header_width;
        uint8_t *jpeg = load_fixture(name, &size);
        simclr_error err;
        double mean;
        int gray, largest;
        cr_assert_eq(jpeg_is_jpeg(jpeg, size), 1, "%s", name);
        cr_assert_eq(jpeg_read_header(jpeg, size, name, &header_height, &header_width, &gray,
                                      &err), SIMCLR_OK, "%s", err.message);
        cr_expect(header_width == width && header_height == height, "%s: header %zux%zu", name,
                  header_width, header_height);
        cr_expect_eq(gray, strcmp(kind, "gray") == 0, "%s: gray flag", name);
        largest = compare_with_pillow(name, 3, &mean);
        cr_expect_eq(largest, 0, "%s (%s): RGB differs from Pillow's, max |diff| %d, mean %.4f",
                     name, kind, largest, mean);
        if (gray) {
            largest = compare_with_pillow(name, 1, &mean);
            cr_expect_eq(largest, 0, "%s: L differs from Pillow's, max |diff| %d, mean %.4f",
                         name, largest, mean);
            gray_count++;
        }
        free(jpeg);
        count++;
    }
    fclose(list);
    cr_expect_eq(count, 82, "list.txt names 82 fixtures");
    cr_expect_eq(gray_count, 10);
}

/* ---- helpers for hostile input ---- */

/* The offset of the n-th (0-based) marker FF `marker` in the segment structure (scan data
 * skipped), or 0 when there is none. */
static size_t find_marker(const uint8_t *bytes, size_t size, int marker, int n)
{
    size_t position = 2;
    while (position + 4 <= size) {
        const int m = bytes[position + 1];
        if (bytes[position] != 0xFF)
            return 0;
        if (m == marker && n-- == 0)
            return position;
        if (m == 0xD9)
            return 0;
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            position += 2;
            continue;
        }
        position += 2 + ((size_t)bytes[position + 2] << 8 | bytes[position + 3]);
        if (m == 0xDA) /* past the entropy-coded data: to the next FF xx, xx not 00 or RSTn */
            while (position + 1 < size &&
                   !(bytes[position] == 0xFF && bytes[position + 1] != 0 &&
                     (bytes[position + 1] < 0xD0 || bytes[position + 1] > 0xD7)))
                position++;
    }
    return 0;
}

static void expect_refused(const uint8_t *bytes, size_t size, const char *name,
                           const char *fragment)
{
    uint8_t *pixels = (uint8_t *)1;
    size_t height, width;
    simclr_error err;
    memset(&err, 0, sizeof err);
    cr_expect_eq(jpeg_decode(bytes, size, name, 3, 1 << 20, &pixels, &height, &width, &err),
                 SIMCLR_FAILED, "%s must be refused", name);
    cr_expect_null(pixels, "%s: no pixels on failure", name);
    cr_expect_not_null(strstr(err.message, name), "%s: the message names the file: %s", name,
                       err.message);
    cr_expect(strchr(err.message, '\n') == NULL, "%s: one line: %s", name, err.message);
    if (fragment != NULL)
        cr_expect_not_null(strstr(err.message, fragment), "%s: \"%s\" expected in: %s", name,
                           fragment, err.message);
}

/* bytes with `count` bytes at `at` replaced by `insert` (insert_size bytes); a new buffer. */
static uint8_t *splice(const uint8_t *bytes, size_t size, size_t at, size_t count,
                       const uint8_t *insert, size_t insert_size, size_t *new_size)
{
    uint8_t *out = malloc(size - count + insert_size + 1);
    memcpy(out, bytes, at);
    if (insert_size > 0)
        memcpy(out + at, insert, insert_size);
    memcpy(out + at + insert_size, bytes + at + count, size - at - count);
    *new_size = size - count + insert_size;
    return out;
}

static int decodes_to_same_pixels(const uint8_t *a, size_t a_size, const uint8_t *b,
                                  size_t b_size)
{
    uint8_t *pa, *pb;
    size_t ha, wa, hb, wb;
    simclr_error err;
    int same;
    cr_assert_eq(jpeg_decode(a, a_size, "a.jpg", 3, 1 << 20, &pa, &ha, &wa, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_assert_eq(jpeg_decode(b, b_size, "b.jpg", 3, 1 << 20, &pb, &hb, &wb, &err), SIMCLR_OK,
                 "%s", err.message);
    same = ha == hb && wa == wb && memcmp(pa, pb, ha * wa * 3) == 0;
    simclr_free(pa), simclr_free(pb);
    return same;
}

/* ---- the header reader ---- */

Test(jpeg, header_reader_with_large_app1_before_the_frame)
{
    size_t size, big_size, height, width, i;
    uint8_t *jpeg = load_fixture("q75_420_33x65", &size), *big;
    uint8_t app1[65537];
    simclr_error err;
    int gray;
    /* an APP1 of the largest size a segment can have (an EXIF block, say) right after SOI */
    app1[0] = 0xFF, app1[1] = 0xE1, app1[2] = 0xFF, app1[3] = 0xFF;
    memcpy(app1 + 4, "Exif\0\0", 6);
    for (i = 10; i < sizeof app1; i++)
        app1[i] = (uint8_t)(i * 7);
    app1[100] = 0xFF, app1[101] = 0xD9; /* marker-like bytes inside a segment are data */
    big = splice(jpeg, size, 2, 0, app1, sizeof app1, &big_size);
    cr_assert_eq(jpeg_read_header(big, big_size, "big.jpg", &height, &width, &gray, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect(height == 65 && width == 33 && gray == 0);
    cr_expect(decodes_to_same_pixels(jpeg, size, big, big_size));
    /* the first 60 000 bytes end inside the APP1: the caller must read more */
    cr_expect_eq(jpeg_read_header(big, 60000, "big.jpg", &height, &width, &gray, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "big.jpg"), "%s", err.message);
    cr_expect_not_null(strstr(err.message, "truncated"), "%s", err.message);
    /* ... but the header alone (up to the frame) is enough */
    cr_expect_eq(jpeg_read_header(big, find_marker(big, big_size, 0xC0, 0) + 20, "big.jpg",
                                  &height, &width, &gray, &err), SIMCLR_OK, "%s", err.message);
    free(jpeg), free(big);
}

Test(jpeg, header_reader_gray_and_refusals)
{
    size_t size, height, width;
    uint8_t *jpeg = load_fixture("gray_17x9", &size);
    simclr_error err;
    int gray;
    cr_assert_eq(jpeg_read_header(jpeg, size, "g.jpg", &height, &width, &gray, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect(height == 9 && width == 17 && gray == 1);
    cr_expect_eq(jpeg_read_header(jpeg, 1, "g.jpg", &height, &width, &gray, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "g.jpg"), "%s", err.message);
    cr_expect_eq(jpeg_is_jpeg(jpeg, 2), 0);
    jpeg[0] = 0x89;
    cr_expect_eq(jpeg_is_jpeg(jpeg, size), 0);
    cr_expect_eq(jpeg_read_header(jpeg, size, "g.jpg", &height, &width, &gray, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "not a JPEG"), "%s", err.message);
    free(jpeg);
    jpeg = load_fixture("arithmetic_17x9", &size);
    cr_expect_eq(jpeg_read_header(jpeg, size, "a.jpg", &height, &width, &gray, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "arithmetic"), "%s", err.message);
    free(jpeg);
}

/* ---- sizes and channels ---- */

Test(jpeg, pixel_limit_before_allocation)
{
    size_t size, height, width, sof;
    uint8_t *jpeg = load_fixture("q75_420_64x48", &size), *pixels;
    simclr_error err;
    unsigned long before;
    cr_expect_eq(jpeg_decode(jpeg, size, "l.jpg", 3, 64 * 48, &pixels, &height, &width, &err),
                 SIMCLR_OK, "%s", err.message);
    simclr_free(pixels);
    cr_expect_eq(jpeg_decode(jpeg, size, "l.jpg", 3, 64 * 48 - 1, &pixels, &height, &width,
                             &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "limit"), "%s", err.message);
    /* a 65535×65535 frame header: refused before any plane or output is allocated (the
     * decoder's own state is the one allocation) */
    sof = find_marker(jpeg, size, 0xC0, 0);
    cr_assert_neq(sof, 0);
    jpeg[sof + 5] = jpeg[sof + 6] = jpeg[sof + 7] = jpeg[sof + 8] = 0xFF;
    before = simclr_allocation_count();
    cr_expect_eq(jpeg_decode(jpeg, size, "huge.jpg", 3, 1 << 24, &pixels, &height, &width, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "huge.jpg: 65535x65535 pixels, more than the limit"),
                       "%s", err.message);
    cr_expect_eq(simclr_allocation_count() - before, 1, "only the decoder's state");
    free(jpeg);
}

Test(jpeg, channels)
{
    size_t size, height, width;
    uint8_t *jpeg = load_fixture("q75_444_17x9", &size), *pixels;
    simclr_error err;
    cr_expect_eq(jpeg_decode(jpeg, size, "c.jpg", 1, 1 << 20, &pixels, &height, &width, &err),
                 SIMCLR_FAILED, "a colour image is not read as gray");
    cr_expect_not_null(strstr(err.message, "c.jpg: a colour image"), "%s", err.message);
    cr_expect_eq(jpeg_decode(jpeg, size, "c.jpg", 4, 1 << 20, &pixels, &height, &width, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "c.jpg"), "%s", err.message);
    free(jpeg);
}

/* ---- refused features ---- */

Test(jpeg, refused_features_are_named)
{
    size_t size, sof, crafted_size;
    uint8_t *jpeg = load_fixture("arithmetic_17x9", &size);
    /* SOI, SOF0 of 2 components, EOI */
    const uint8_t two_components[] = {0xFF, 0xD8, 0xFF, 0xC0, 0, 14, 8, 0, 9, 0, 17, 2,
                                      1, 0x11, 0, 2, 0x11, 0, 0xFF, 0xD9};
    uint8_t *crafted;
    expect_refused(jpeg, size, "arithmetic.jpg", "arithmetic coding");
    free(jpeg);
    jpeg = load_fixture("cmyk_17x9", &size);
    expect_refused(jpeg, size, "cmyk.jpg", "4 components (CMYK or YCCK)");
    free(jpeg);
    expect_refused(two_components, sizeof two_components, "two.jpg", "2 components");
    jpeg = load_fixture("q75_420_17x9", &size);
    sof = find_marker(jpeg, size, 0xC0, 0);
    cr_assert_neq(sof, 0);
    jpeg[sof + 4] = 12; /* precision */
    expect_refused(jpeg, size, "twelve.jpg", "12-bit");
    jpeg[sof + 4] = 16;
    expect_refused(jpeg, size, "sixteen.jpg", "precision 16");
    jpeg[sof + 4] = 8;
    jpeg[sof + 1] = 0xC3;
    expect_refused(jpeg, size, "lossless.jpg", "lossless");
    jpeg[sof + 1] = 0xC5;
    expect_refused(jpeg, size, "hierarchical.jpg", "hierarchical");
    jpeg[sof + 1] = 0xCA;
    expect_refused(jpeg, size, "arith-progressive.jpg", "arithmetic");
    jpeg[sof + 1] = 0xC0;
    /* a DHP marker (hierarchical) before the frame */
    {
        const uint8_t dhp[] = {0xFF, 0xDE, 0, 2};
        crafted = splice(jpeg, size, 2, 0, dhp, sizeof dhp, &crafted_size);
        expect_refused(crafted, crafted_size, "dhp.jpg", "hierarchical");
        free(crafted);
    }
    free(jpeg);
}

/* ---- truncation ---- */

static void expect_every_truncation_refused(const char *fixture)
{
    size_t size, cut;
    uint8_t *jpeg = load_fixture(fixture, &size);
    char name[160];
    snprintf(name, sizeof name, "%s-cut.jpg", fixture);
    for (cut = 0; cut < size; cut++) /* every prefix, up to the last byte of EOI */
        expect_refused(jpeg, cut, name, NULL);
    free(jpeg);
}

Test(jpeg, truncated_at_every_offset_baseline) { expect_every_truncation_refused("q75_420_33x65"); }
Test(jpeg, truncated_at_every_offset_progressive)
{
    expect_every_truncation_refused("progressive_script_17x9");
    expect_every_truncation_refused("progressive_420_33x65");
}
Test(jpeg, truncated_at_every_offset_restarts)
{
    expect_every_truncation_refused("progressive_restart_17x9");
    expect_every_truncation_refused("restart1_17x9");
    expect_every_truncation_refused("gray_restart_17x9");
}

/* A cut inside the entropy-coded data says "truncated"; trailing bytes after EOI are fine. */
Test(jpeg, truncation_message_and_trailing_bytes)
{
    size_t size, sos, padded_size;
    uint8_t *jpeg = load_fixture("q75_444_64x48", &size), *padded;
    const uint8_t trailer[] = {0, 1, 2, 0xFF, 0xD8};
    sos = find_marker(jpeg, size, 0xDA, 0);
    expect_refused(jpeg, sos + (size - sos) / 2, "half.jpg", "truncated");
    expect_refused(jpeg, size - 2, "no-eoi.jpg", "truncated");
    padded = splice(jpeg, size, size, 0, trailer, sizeof trailer, &padded_size);
    cr_expect(decodes_to_same_pixels(jpeg, size, padded, padded_size));
    free(jpeg), free(padded);
}

/* ---- corrupt tables ---- */

Test(jpeg, corrupt_huffman_tables)
{
    size_t size, dht;
    uint8_t *jpeg = load_fixture("q75_420_17x9", &size), *copy = malloc(size);
    int i;
    dht = find_marker(jpeg, size, 0xC4, 0);
    cr_assert(dht != 0 && jpeg[dht + 4] == 0x00, "the first DHT holds DC table 0");
    cr_assert(jpeg[dht + 5] == 0 && jpeg[dht + 6] == 1 && jpeg[dht + 7] == 5,
              "the standard DC luminance table: 0, 1, 5, 1, 1, ... codes of lengths 1, 2, 3, ...");
    /* over-subscribed: 3 codes of length 1 (12 symbols, as before) */
    memcpy(copy, jpeg, size);
    copy[dht + 5] = 3, copy[dht + 6] = 0, copy[dht + 7] = 3;
    expect_refused(copy, size, "oversubscribed.jpg", "over-subscribe");
    /* a complete code that uses the all-ones code word (one code of each length 1..10, two of
     * length 11: 0, 10, 110, ..., 11111111110, 11111111111), refused as by libjpeg */
    memcpy(copy, jpeg, size);
    memset(copy + dht + 5, 1, 10);
    copy[dht + 15] = 2;
    expect_refused(copy, size, "all-ones.jpg", "over-subscribe");
    /* more than 256 symbols */
    memcpy(copy, jpeg, size);
    for (i = 0; i < 16; i++)
        copy[dht + 5 + i] = 200;
    expect_refused(copy, size, "many.jpg", "at most 256");
    /* a DC symbol (a bit length) above 15 */
    memcpy(copy, jpeg, size);
    copy[dht + 21] = 16;
    expect_refused(copy, size, "dc-symbol.jpg", "DC symbol 16");
    /* class 2, slot 5 */
    memcpy(copy, jpeg, size);
    copy[dht + 4] = 0x25;
    expect_refused(copy, size, "class.jpg", "Huffman table class");
    /* a DQT of precision 2, and one in slot 4 */
    memcpy(copy, jpeg, size);
    copy[find_marker(jpeg, size, 0xDB, 0) + 4] = 0x20;
    expect_refused(copy, size, "dqt.jpg", "precision 2");
    memcpy(copy, jpeg, size);
    copy[find_marker(jpeg, size, 0xDB, 0) + 4] = 0x04;
    expect_refused(copy, size, "dqt-slot.jpg", "slot 4");
    free(jpeg), free(copy);
}

/* Tables the scan uses but nobody defined: the DHT or DQT segments turned into comments. */
Test(jpeg, undefined_tables)
{
    size_t size, at;
    uint8_t *jpeg = load_fixture("q75_420_17x9", &size), *copy = malloc(size);
    int n;
    memcpy(copy, jpeg, size);
    for (n = 0; (at = find_marker(copy, size, 0xC4, 0)) != 0; n++)
        copy[at + 1] = 0xFE;
    cr_assert_gt(n, 0);
    expect_refused(copy, size, "no-dht.jpg", "undefined Huffman table");
    memcpy(copy, jpeg, size);
    while ((at = find_marker(copy, size, 0xDB, 0)) != 0)
        copy[at + 1] = 0xFE;
    expect_refused(copy, size, "no-dqt.jpg", "undefined quantisation table");
    free(jpeg), free(copy);
}

/* ---- corrupt scan data ---- */

Test(jpeg, corrupt_scan_data)
{
    const char *fixtures[] = {"q75_420_64x48", "progressive_script_64x48", "restart3b_64x48",
                              "t440_33x65"};
    int f;
    for (f = 0; f < 4; f++) {
        size_t size, sos, i, refused = 0;
        uint8_t *jpeg = load_fixture(fixtures[f], &size), *copy = malloc(size);
        sos = find_marker(jpeg, size, 0xDA, 0);
        /* each byte of the first scan's data flipped in turn (every 3rd to keep it short):
         * refused with the name, or decoded (not every flip is detectable) */
        for (i = sos + 14; i < size - 2; i += 3) {
            uint8_t *pixels;
            size_t height, width;
            simclr_error err;
            memcpy(copy, jpeg, size);
            copy[i] ^= 0x5A;
            if (jpeg_decode(copy, size, "flip.jpg", 3, 1 << 20, &pixels, &height, &width, &err) ==
                SIMCLR_OK) {
                cr_expect(height > 0 && width > 0);
                simclr_free(pixels);
            } else {
                refused++;
                cr_expect_not_null(strstr(err.message, "flip.jpg: "), "%s", err.message);
            }
        }
        cr_expect_gt(refused, 0, "%s: some flips are detected", fixtures[f]);
        free(jpeg), free(copy);
    }
}

/* Bits that match no code: with a table that does not use every code word, sixteen ones. */
Test(jpeg, code_that_matches_no_table_entry)
{
    size_t size, data, i;
    uint8_t *jpeg = load_fixture("q75_444_17x9", &size);
    data = find_marker(jpeg, size, 0xDA, 0);
    data += 2 + ((size_t)jpeg[data + 2] << 8 | jpeg[data + 3]);
    for (i = data; i + 1 < size - 2; i += 2) /* FF 00 is a data byte of ones */
        jpeg[i] = 0xFF, jpeg[i + 1] = 0x00;
    expect_refused(jpeg, size, "nocode.jpg", "matches no Huffman table entry");
    free(jpeg);
}

/* ---- markers and headers out of order or out of range ---- */

Test(jpeg, markers_out_of_order)
{
    size_t size, sof, sos, sof_length, new_size;
    uint8_t *jpeg = load_fixture("q75_420_17x9", &size), *copy;
    const uint8_t soi_eoi[] = {0xFF, 0xD8, 0xFF, 0xD9};
    sof = find_marker(jpeg, size, 0xC0, 0);
    sos = find_marker(jpeg, size, 0xDA, 0);
    sof_length = 2 + ((size_t)jpeg[sof + 2] << 8 | jpeg[sof + 3]);
    /* SOS before SOF: the frame header moved after the scan header */
    copy = splice(jpeg, size, sof, sof_length, NULL, 0, &new_size);
    expect_refused(copy, new_size, "sos-first.jpg", "before the frame header");
    free(copy);
    /* two frame headers */
    copy = splice(jpeg, size, sof, 0, jpeg + sof, sof_length, &new_size);
    expect_refused(copy, new_size, "two-sof.jpg", "second frame header");
    free(copy);
    /* a second SOI */
    copy = splice(jpeg, size, sos, 0, soi_eoi, 2, &new_size);
    expect_refused(copy, new_size, "two-soi.jpg", "second start-of-image");
    free(copy);
    /* EOI before any scan, and an image that is nothing but SOI EOI */
    copy = splice(jpeg, size, sos, 0, soi_eoi + 2, 2, &new_size);
    expect_refused(copy, new_size, "early-eoi.jpg", "before any scan");
    free(copy);
    expect_refused(soi_eoi, sizeof soi_eoi, "empty.jpg", "before any frame header");
    /* a reserved marker */
    {
        const uint8_t reserved[] = {0xFF, 0xF0, 0, 2};
        copy = splice(jpeg, size, sof, 0, reserved, sizeof reserved, &new_size);
        expect_refused(copy, new_size, "reserved.jpg", "unknown marker FF F0");
        free(copy);
    }
    /* not starting with SOI */
    expect_refused(jpeg + 2, size - 2, "no-soi.jpg", "not a JPEG");
    /* fill bytes FF FF before a marker and a stray RST/TEM between segments change nothing */
    {
        const uint8_t fill[] = {0xFF, 0xFF, 0xFF, 0xD3, 0xFF, 0x01};
        copy = splice(jpeg, size, sos, 0, fill, sizeof fill, &new_size);
        cr_expect(decodes_to_same_pixels(jpeg, size, copy, new_size));
        free(copy);
    }
    free(jpeg);
}

Test(jpeg, frame_header_out_of_range)
{
    size_t size, sof;
    uint8_t *jpeg = load_fixture("q75_420_17x9", &size), *copy = malloc(size);
    sof = find_marker(jpeg, size, 0xC0, 0);
    cr_assert(sof != 0 && jpeg[sof + 9] == 3, "3 components");
#define PATCHED(offset, value, name, fragment)                                                    \
    do {                                                                                          \
        memcpy(copy, jpeg, size);                                                                 \
        copy[sof + (offset)] = (value);                                                           \
        expect_refused(copy, size, name, fragment);                                               \
    } while (0)
    memcpy(copy, jpeg, size);
    copy[sof + 5] = copy[sof + 6] = 0;
    expect_refused(copy, size, "height0.jpg", "height 0");
    memcpy(copy, jpeg, size);
    copy[sof + 7] = copy[sof + 8] = 0;
    expect_refused(copy, size, "width0.jpg", "width 0");
    PATCHED(11, 0x50, "h5.jpg", "sampling factors 5x0");  /* luma h=5, v=0 */
    PATCHED(11, 0x00, "h0v0.jpg", "sampling factors 0x0");
    memcpy(copy, jpeg, size); /* luma 3x1, chroma 2x1 and 1x1: 2 does not divide 3 */
    copy[sof + 11] = 0x31;
    copy[sof + 14] = 0x21;
    copy[sof + 17] = 0x11;
    expect_refused(copy, size, "h3.jpg", "sampling factors 2x1 do not divide the largest, 3x1");
    PATCHED(12, 4, "tq4.jpg", "slot 4");
    PATCHED(13, 1, "dup-id.jpg", "two components have the id 1");
    PATCHED(9, 5, "five.jpg", "5 components");
    PATCHED(3, 20, "sof-length.jpg", NULL);
#undef PATCHED
    free(jpeg), free(copy);
}

Test(jpeg, scan_header_out_of_range)
{
    size_t size, sos, sof;
    uint8_t *jpeg = load_fixture("q75_420_17x9", &size), *copy = malloc(size);
    sos = find_marker(jpeg, size, 0xDA, 0);
    sof = find_marker(jpeg, size, 0xC0, 0);
    cr_assert(sos != 0 && jpeg[sos + 4] == 3, "one scan of 3 components");
#define PATCHED(offset, value, name, fragment)                                                    \
    do {                                                                                          \
        memcpy(copy, jpeg, size);                                                                 \
        copy[sos + (offset)] = (value);                                                           \
        expect_refused(copy, size, name, fragment);                                               \
    } while (0)
    PATCHED(5, 9, "id.jpg", "component 9, not in the frame");
    PATCHED(7, 1, "twice.jpg", "component 1 twice");
    PATCHED(6, 0x44, "slots.jpg", "slots 4, 4");
    PATCHED(6, 0x33, "undefined.jpg", "undefined Huffman table");
    PATCHED(11, 1, "ss.jpg", "sequential scan with Ss=1");
    PATCHED(12, 62, "se.jpg", "Se=62");
    PATCHED(13, 0x01, "al.jpg", "Al=1");
    PATCHED(4, 4, "ns.jpg", "scan header");
#undef PATCHED
    /* an MCU of more than 10 blocks: luma 4x2 and chroma 2x1 = 8 + 2 + 2 */
    memcpy(copy, jpeg, size);
    copy[sof + 11] = 0x42;
    copy[sof + 14] = 0x21;
    copy[sof + 17] = 0x21;
    expect_refused(copy, size, "mcu.jpg", "blocks in an MCU");
    free(jpeg), free(copy);
}

/* Progressive scans: out-of-range bands and approximations, refinements out of order, a band
 * that ends before the data's coefficients do. */
Test(jpeg, progressive_scan_parameters)
{
    size_t size, sos[12], i;
    uint8_t *jpeg = load_fixture("progressive_script_17x9", &size), *copy = malloc(size);
    int n = 0;
    for (n = 0; n < 12 && (sos[n] = find_marker(jpeg, size, 0xDA, n)) != 0; n++)
        ;
    cr_assert_eq(n, 11, "the script has 11 scans");
    /* scan 0: "0,1,2: 0 0 0 2" (DC first, Al 2); scan 1: "0: 1 5 0 2" (AC first) */
    cr_assert(jpeg[sos[0] + 4] == 3 && jpeg[sos[1] + 4] == 1);
#define PATCHED(scan, offset, value, name, fragment)                                              \
    do {                                                                                          \
        memcpy(copy, jpeg, size);                                                                 \
        copy[sos[scan] + (offset)] = (value);                                                     \
        expect_refused(copy, size, name, fragment);                                               \
    } while (0)
    PATCHED(0, 12, 0x00 + 5, "dc-se.jpg", "Ss=0 Se=5");
    PATCHED(0, 13, 0x0E, "al14.jpg", "Al=14");
    PATCHED(0, 13, 0x31, "ah3.jpg", "Ah=3 Al=1");
    PATCHED(0, 13, 0x10, "refine-first.jpg", "out of order");
    PATCHED(1, 7, 6, "ss-after-se.jpg", "Ss=6 Se=5");
    PATCHED(1, 8, 64, "se64.jpg", "Se=64");
    PATCHED(1, 7, 0, "dc-band-ac.jpg", "Ss=0 Se=5");
    PATCHED(1, 9, 0x02 + 0x30, "ac-ah.jpg", NULL);
#undef PATCHED
    /* an AC band narrowed to 1..1: the data's coefficients overflow it */
    memcpy(copy, jpeg, size);
    copy[sos[1] + 8] = 1;
    expect_refused(copy, size, "band.jpg", NULL);
    /* the AC scan of component 1 moved before the DC scan */
    {
        size_t length = sos[2] - sos[1], new_size, moved_size;
        uint8_t *moved = splice(jpeg, size, sos[1], length, NULL, 0, &moved_size);
        uint8_t *early = splice(moved, moved_size, sos[0], 0, jpeg + sos[1], length, &new_size);
        expect_refused(early, new_size, "ac-first.jpg", "before its DC scan");
        free(moved), free(early);
    }
    /* the same scan twice */
    {
        size_t length = find_marker(jpeg, size, 0xDA, 2) - sos[1], new_size;
        uint8_t *twice = splice(jpeg, size, sos[1], 0, jpeg + sos[1], length, &new_size);
        expect_refused(twice, new_size, "twice.jpg", "out of order");
        free(twice);
    }
    /* every scan's Ah, Al set to 1, 0: a refinement of bits never sent, except for the scans
     * 7..10 that are such refinements */
    for (i = 0; i < 7; i++) {
        memcpy(copy, jpeg, size);
        copy[sos[i] + 4 + 2 * copy[sos[i] + 4] + 3] = 0x10;
        expect_refused(copy, size, "ah1.jpg", "out of order");
    }
    free(jpeg), free(copy);
}

/* ---- restart markers ---- */

Test(jpeg, restart_markers)
{
    size_t size, rst = 0, i, new_size;
    uint8_t *jpeg = load_fixture("restart1_64x48", &size), *copy = malloc(size), *filled;
    const uint8_t fill[] = {0xFF, 0xFF};
    for (i = find_marker(jpeg, size, 0xDA, 0); i + 1 < size; i++)
        if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xD1) {
            rst = i;
            break;
        }
    cr_assert_neq(rst, 0, "RST1 found");
    memcpy(copy, jpeg, size);
    copy[rst + 1] = 0xD5;
    expect_refused(copy, size, "rst.jpg", "RST1 was due");
    memcpy(copy, jpeg, size);
    copy[rst + 1] = 0xD9;
    expect_refused(copy, size, "rst-eoi.jpg", "RST1 was due");
    /* fill bytes before a restart marker are allowed */
    filled = splice(jpeg, size, rst, 0, fill, sizeof fill, &new_size);
    cr_expect(decodes_to_same_pixels(jpeg, size, filled, new_size));
    free(filled);
    /* a DRI of the wrong length */
    memcpy(copy, jpeg, size);
    i = find_marker(jpeg, size, 0xDD, 0);
    cr_assert_neq(i, 0);
    copy[i + 3] = 5;
    expect_refused(copy, size, "dri.jpg", NULL);
    free(jpeg), free(copy);
}
