/*
 * tests/test_png.c — the PNG decoder (data/png.h).
 *
 * (a) Every fixture of tests/fixtures/png (every colour type × bit depth × interlace × size, and
 *     files Pillow wrote) decodes bit for bit to what Pillow 9.4 gives for .convert("RGB") and,
 *     for gray images, .convert("L"): expected.txt holds the CRC-32 of Pillow's bytes (written
 *     by make_fixtures.py there).
 * (b) Hostile input, made here from a fixture or built chunk by chunk with valid CRCs: every
 *     class of damage fails with SIMCLR_FAILED and a one-line message naming the file.
 * (c) png_read_header on every fixture, from the first 33 bytes alone.
 * (d) The pixel limit, checked before anything is allocated.
 * Small images built here also check the Pillow conventions directly, independently of the
 * fixtures (16-bit gray clipped at 255, 16-bit colour's high byte, palette indices past the
 * palette's end giving (i, i, i)).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/png.h"
#include "test_helpers.h"

#define FIXTURES "tests/fixtures/png/"
#define LIMIT (1u << 24) /* max_pixels for ordinary decoding */

/* ---- (a) and (c): the fixtures against Pillow ------------------------------------------------- */

typedef struct fixture {
    char file[64], mode[8], crc_l[9];
    unsigned long width, height, crc_rgb;
    int color_type, bit_depth, interlace;
} fixture;

/* Reads expected.txt into a new array (freed by the caller); *count fixtures. */
static fixture *read_expected(size_t *count)
{
    size_t size, n = 0;
    char *text = (char *)test_load_file(FIXTURES "expected.txt", &size), *line;
    fixture *list = calloc(1024, sizeof *list);
    text[size] = '\0';
    for (line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        fixture *f = &list[n];
        if (line[0] == '#')
            continue;
        cr_assert_eq(sscanf(line, "%63s %lu %lu %d %d %d %7s %lx %8s", f->file, &f->width,
                            &f->height, &f->color_type, &f->bit_depth, &f->interlace, f->mode,
                            &f->crc_rgb, f->crc_l), 9, "expected.txt: %s", line);
        cr_assert_lt(++n, 1024);
    }
    free(text);
    *count = n;
    return list;
}

static int fixture_is_gray(const fixture *f)
{
    return f->color_type == 0 || f->color_type == 4;
}

/* Every fixture as RGB: the size and the CRC-32 of the pixels equal Pillow's. */
Test(png, every_fixture_decodes_to_pillows_rgb)
{
    size_t count, i, colour_types[7] = {0}, interlaced = 0;
    fixture *list = read_expected(&count);
    cr_assert_geq(count, 127, "expected.txt lists %zu fixtures", count);
    for (i = 0; i < count; i++) {
        char path[128];
        size_t size, height, width;
        uint8_t *bytes, *pixels;
        simclr_error err;
        snprintf(path, sizeof path, FIXTURES "%s", list[i].file);
        bytes = test_load_file(path, &size);
        cr_assert_eq(png_decode(bytes, size, path, 3, LIMIT, &pixels, &height, &width, &err),
                     SIMCLR_OK, "%s", err.message);
        cr_expect(width == list[i].width && height == list[i].height, "%s: %zux%zu", path, width,
                  height);
        cr_expect_eq(crc32_update(0, pixels, height * width * 3), list[i].crc_rgb,
                     "%s (Pillow mode %s): RGB pixels differ from Pillow's", path, list[i].mode);
        colour_types[list[i].color_type]++;
        interlaced += (size_t)list[i].interlace;
        simclr_free(pixels);
        free(bytes);
    }
    /* the fixtures cover what they claim: 5 gray depths × 2 interlace × 4 sizes, and so on */
    cr_expect(colour_types[0] >= 40 && colour_types[2] >= 16 && colour_types[3] >= 32 &&
              colour_types[4] >= 16 && colour_types[6] >= 16 && interlaced >= 60);
    free(list);
}

/* Every gray fixture (colour types 0 and 4) as L equals Pillow's .convert("L"); every colour
 * fixture refuses 1-channel output with a message saying why. */
Test(png, gray_fixtures_decode_to_pillows_l_and_colour_ones_refuse_it)
{
    size_t count, i, gray = 0;
    fixture *list = read_expected(&count);
    for (i = 0; i < count; i++) {
        char path[128];
        size_t size, height, width;
        uint8_t *bytes, *pixels;
        simclr_error err;
        snprintf(path, sizeof path, FIXTURES "%s", list[i].file);
        bytes = test_load_file(path, &size);
        if (fixture_is_gray(&list[i])) {
            unsigned long crc_l = strtoul(list[i].crc_l, NULL, 16);
            cr_assert_eq(png_decode(bytes, size, path, 1, LIMIT, &pixels, &height, &width,
                                    &err), SIMCLR_OK, "%s", err.message);
            cr_expect_eq(crc32_update(0, pixels, height * width), crc_l,
                         "%s (Pillow mode %s): L pixels differ from Pillow's", path,
                         list[i].mode);
            simclr_free(pixels);
            gray++;
        } else {
            cr_expect_str_eq(list[i].crc_l, "-");
            cr_expect_eq(png_decode(bytes, size, path, 1, LIMIT, &pixels, &height, &width, &err),
                         SIMCLR_FAILED, "%s: a colour image must refuse 1 channel", path);
            cr_expect_null(pixels);
            cr_expect_not_null(strstr(err.message, "gray images only"), "%s", err.message);
        }
        free(bytes);
    }
    cr_expect_geq(gray, 58);
    free(list);
}

/* png_read_header reads the size and grayness of every fixture from its first 33 bytes, and
 * fails on 32. */
Test(png, header_of_every_fixture_from_33_bytes)
{
    size_t count, i;
    fixture *list = read_expected(&count);
    for (i = 0; i < count; i++) {
        char path[128];
        size_t size, height = 0, width = 0;
        int gray = -1;
        uint8_t *bytes;
        simclr_error err;
        snprintf(path, sizeof path, FIXTURES "%s", list[i].file);
        bytes = test_load_file(path, &size);
        cr_expect(png_is_png(bytes, size));
        cr_assert_eq(png_read_header(bytes, 33, path, &height, &width, &gray, &err), SIMCLR_OK,
                     "%s", err.message);
        cr_expect(height == list[i].height && width == list[i].width, "%s", path);
        cr_expect_eq(gray, fixture_is_gray(&list[i]), "%s", path);
        cr_expect_eq(png_read_header(bytes, 32, path, &height, &width, &gray, &err),
                     SIMCLR_FAILED, "%s: 32 bytes cut the IHDR's CRC", path);
        cr_expect_not_null(strstr(err.message, "truncated"), "%s", err.message);
        free(bytes);
    }
    free(list);
}

/* ---- building PNG files chunk by chunk ---------------------------------------------------------- */

typedef struct png_file {
    uint8_t bytes[8192];
    size_t size;
} png_file;

static void put_u32(uint8_t *p, uint32_t value)
{
    p[0] = (uint8_t)(value >> 24), p[1] = (uint8_t)(value >> 16);
    p[2] = (uint8_t)(value >> 8), p[3] = (uint8_t)value;
}

/* Appends a chunk: length, type, data, a correct CRC-32. */
static void add_chunk(png_file *f, const char *type, const uint8_t *data, size_t length)
{
    cr_assert_lt(f->size + 12 + length, sizeof f->bytes);
    put_u32(f->bytes + f->size, (uint32_t)length);
    memcpy(f->bytes + f->size + 4, type, 4);
    if (length > 0)
        memcpy(f->bytes + f->size + 8, data, length);
    put_u32(f->bytes + f->size + 8 + length,
            crc32_update(0, f->bytes + f->size + 4, 4 + length));
    f->size += 12 + length;
}

/* The signature and an IHDR chunk with the given fields. */
static void start_png(png_file *f, uint32_t width, uint32_t height, int depth, int color_type,
                      int compression, int filter, int interlace)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t header[13];
    memcpy(f->bytes, signature, 8);
    f->size = 8;
    put_u32(header, width);
    put_u32(header + 4, height);
    header[8] = (uint8_t)depth, header[9] = (uint8_t)color_type;
    header[10] = (uint8_t)compression, header[11] = (uint8_t)filter;
    header[12] = (uint8_t)interlace;
    add_chunk(f, "IHDR", header, 13);
}

/* A zlib stream of one stored DEFLATE block holding raw[0 .. count): header 78 01, the block,
 * the Adler-32 (plus adler_error, to corrupt it). Returns its size. */
static size_t zlib_stored(uint8_t *z, const uint8_t *raw, size_t count, uint32_t adler_error)
{
    z[0] = 0x78, z[1] = 0x01;
    z[2] = 0x01; /* BFINAL 1, BTYPE 00 */
    z[3] = (uint8_t)count, z[4] = (uint8_t)(count >> 8);
    z[5] = (uint8_t)~count, z[6] = (uint8_t)(~count >> 8);
    memcpy(z + 7, raw, count);
    put_u32(z + 7 + count, adler32_update(1, raw, count) + adler_error);
    return 7 + count + 4;
}

/* Appends the IDAT of raw scanlines (stored) and IEND. */
static void finish_png(png_file *f, const uint8_t *raw, size_t count)
{
    uint8_t z[4096];
    add_chunk(f, "IDAT", z, zlib_stored(z, raw, count, 0));
    add_chunk(f, "IEND", NULL, 0);
}

/* A valid 2x2 8-bit RGB image: scanline 0 with filter None, scanline 1 with Sub. */
static const uint8_t rgb_2x2_scanlines[14] = {0, 10, 20, 30, 40, 50, 60,
                                              1, 1, 2, 3, 4, 4, 4};
static const uint8_t rgb_2x2_pixels[12] = {10, 20, 30, 40, 50, 60, 1, 2, 3, 5, 6, 7};

static void build_rgb_2x2(png_file *f)
{
    start_png(f, 2, 2, 8, 2, 0, 0, 0);
    finish_png(f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
}

/* Decoding must fail, name the file in a one-line message that contains `reason`, and leave
 * *pixels NULL. */
static void expect_refused(const uint8_t *bytes, size_t size, size_t channels, const char *what,
                           const char *reason)
{
    uint8_t *pixels = (uint8_t *)1;
    size_t height, width;
    simclr_error err;
    memset(&err, 0, sizeof err);
    cr_expect_eq(png_decode(bytes, size, "hostile.png", channels, LIMIT, &pixels, &height, &width,
                            &err), SIMCLR_FAILED, "%s must be refused", what);
    cr_expect_null(pixels, "%s", what);
    cr_expect(strncmp(err.message, "hostile.png: ", 13) == 0, "%s: %s", what, err.message);
    cr_expect_null(strchr(err.message, '\n'), "%s: one line", what);
    if (reason != NULL)
        cr_expect_not_null(strstr(err.message, reason), "%s: \"%s\" lacks \"%s\"", what,
                           err.message, reason);
}

/* The builder makes valid files: a 2x2 RGB image with a None and a Sub scanline decodes to its
 * pixels, and so does the same image with ancillary chunks (one of an unknown type) around the
 * data and junk after IEND. */
Test(png, built_image_decodes_and_ancillary_chunks_are_skipped)
{
    png_file f;
    uint8_t *pixels;
    size_t height, width;
    simclr_error err;
    build_rgb_2x2(&f);
    cr_assert_eq(png_decode(f.bytes, f.size, "built.png", 3, LIMIT, &pixels, &height, &width,
                            &err), SIMCLR_OK, "%s", err.message);
    cr_expect(height == 2 && width == 2 && memcmp(pixels, rgb_2x2_pixels, 12) == 0);
    simclr_free(pixels);

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "tEXt", (const uint8_t *)"Title\0x", 7);
    add_chunk(&f, "abCD", (const uint8_t *)"??", 2); /* unknown, ancillary: skipped */
    {
        uint8_t z[64];
        add_chunk(&f, "IDAT", z, zlib_stored(z, rgb_2x2_scanlines, 14, 0));
    }
    add_chunk(&f, "tIME", (const uint8_t *)"\x07\xe8\x06\x01\x0c\x00\x00", 7);
    add_chunk(&f, "IEND", NULL, 0);
    memcpy(f.bytes + f.size, "junk after IEND", 15);
    cr_assert_eq(png_decode(f.bytes, f.size + 15, "built.png", 3, LIMIT, &pixels, &height,
                            &width, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(memcmp(pixels, rgb_2x2_pixels, 12) == 0);
    simclr_free(pixels);
}

/* Pillow's conventions, on images built here: 16-bit gray is clipped at 255 (Pillow's mode "I",
 * not the high byte); 16-bit RGB keeps each sample's high byte; 16-bit gray + alpha its gray
 * sample's high byte; 2-bit gray is scaled by 85; palette indices past the palette's end give
 * (i, i, i). */
Test(png, pillow_conventions_on_built_images)
{
    png_file f;
    uint8_t *pixels;
    size_t height, width;
    simclr_error err;
    {   /* 16-bit gray 0x0000 0x00ff 0x0100 0x8000 0xffff 0x0080 → 0 255 255 255 255 128 */
        const uint8_t raw[13] = {0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x80, 0x00, 0xff, 0xff,
                                 0x00, 0x80};
        const uint8_t want[6] = {0, 255, 255, 255, 255, 128};
        start_png(&f, 6, 1, 16, 0, 0, 0, 0);
        finish_png(&f, raw, sizeof raw);
        cr_assert_eq(png_decode(f.bytes, f.size, "g16.png", 1, LIMIT, &pixels, &height, &width,
                                &err), SIMCLR_OK, "%s", err.message);
        cr_expect(memcmp(pixels, want, 6) == 0, "16-bit gray clips at 255");
        simclr_free(pixels);
    }
    {   /* 16-bit RGB (0x12ff, 0x8000, 0x00ff) → (0x12, 0x80, 0x00) */
        const uint8_t raw[7] = {0, 0x12, 0xff, 0x80, 0x00, 0x00, 0xff};
        const uint8_t want[3] = {0x12, 0x80, 0x00};
        start_png(&f, 1, 1, 16, 2, 0, 0, 0);
        finish_png(&f, raw, sizeof raw);
        cr_assert_eq(png_decode(f.bytes, f.size, "rgb16.png", 3, LIMIT, &pixels, &height,
                                &width, &err), SIMCLR_OK, "%s", err.message);
        cr_expect(memcmp(pixels, want, 3) == 0, "16-bit RGB keeps the high bytes");
        simclr_free(pixels);
    }
    {   /* 16-bit gray + alpha (0x01ff, alpha 0x0000) → 1, unlike 16-bit gray's 255 */
        const uint8_t raw[5] = {0, 0x01, 0xff, 0x00, 0x00};
        start_png(&f, 1, 1, 16, 4, 0, 0, 0);
        finish_png(&f, raw, sizeof raw);
        cr_assert_eq(png_decode(f.bytes, f.size, "ga16.png", 1, LIMIT, &pixels, &height, &width,
                                &err), SIMCLR_OK, "%s", err.message);
        cr_expect_eq(pixels[0], 1, "16-bit gray + alpha keeps the high byte");
        simclr_free(pixels);
    }
    {   /* 2-bit gray 0 1 2 3 → 0 85 170 255 */
        const uint8_t raw[2] = {0, 0x1b};
        const uint8_t want[4] = {0, 85, 170, 255};
        start_png(&f, 4, 1, 2, 0, 0, 0, 0);
        finish_png(&f, raw, sizeof raw);
        cr_assert_eq(png_decode(f.bytes, f.size, "g2.png", 1, LIMIT, &pixels, &height, &width,
                                &err), SIMCLR_OK, "%s", err.message);
        cr_expect(memcmp(pixels, want, 4) == 0, "2-bit gray scales by 85");
        simclr_free(pixels);
    }
    {   /* 4-bit palette of 2 entries; indices 0, 1, 2, 15 → entry 0, entry 1, (2,2,2), (15,15,15) */
        const uint8_t palette[6] = {200, 100, 50, 7, 8, 9};
        const uint8_t raw[3] = {0, 0x01, 0x2f};
        const uint8_t want[12] = {200, 100, 50, 7, 8, 9, 2, 2, 2, 15, 15, 15};
        start_png(&f, 4, 1, 4, 3, 0, 0, 0);
        add_chunk(&f, "PLTE", palette, sizeof palette);
        finish_png(&f, raw, sizeof raw);
        cr_assert_eq(png_decode(f.bytes, f.size, "p4.png", 3, LIMIT, &pixels, &height, &width,
                                &err), SIMCLR_OK, "%s", err.message);
        cr_expect(memcmp(pixels, want, 12) == 0, "indices past the palette give (i, i, i)");
        simclr_free(pixels);
    }
}

/* ---- (b) hostile input ------------------------------------------------------------------------ */

/* A file cut at any offset fails: every offset of a small fixture, and of one whose image data
 * is split over several IDAT chunks among ancillary chunks (the missing IEND included). */
Test(png, truncated_at_every_offset_is_refused)
{
    const char *files[2] = {FIXTURES "rgb8_3x5.png", FIXTURES "gray2_3x5_adam7.png"};
    int k;
    for (k = 0; k < 2; k++) {
        size_t size, cut;
        uint8_t *bytes = test_load_file(files[k], &size);
        for (cut = 0; cut < size; cut++)
            expect_refused(bytes, cut, 3, files[k], NULL);
        free(bytes);
    }
}

/* Every single-byte change of a small file is caught (signature, lengths, types, data, CRCs:
 * everything up to the end of IEND is covered by a check). */
Test(png, every_single_byte_change_is_refused)
{
    static const uint8_t flips[3] = {0x01, 0x80, 0xff};
    size_t size, i;
    uint8_t *bytes = test_load_file(FIXTURES "palette2_3x5.png", &size);
    int k;
    for (i = 0; i < size; i++)
        for (k = 0; k < 3; k++) {
            char what[64];
            snprintf(what, sizeof what, "byte %zu ^ 0x%02x", i, flips[k]);
            bytes[i] ^= flips[k];
            expect_refused(bytes, size, 3, what, NULL);
            bytes[i] ^= flips[k];
        }
    free(bytes);
}

/* A wrong CRC-32 in each chunk of a fixture with IHDR, gAMA, tEXt, PLTE, tRNS, three IDAT,
 * tIME, zTXt and IEND is reported as a CRC-32 mismatch in that chunk. */
Test(png, bad_crc_in_each_chunk_is_named)
{
    size_t size, position = 8, chunks = 0;
    uint8_t *bytes = test_load_file(FIXTURES "palette1_17x9.png", &size);
    while (position < size) {
        const size_t length = (size_t)bytes[position] << 24 | (size_t)bytes[position + 1] << 16 |
                              (size_t)bytes[position + 2] << 8 | bytes[position + 3];
        const size_t crc_at = position + 8 + length;
        char reason[64];
        snprintf(reason, sizeof reason, "CRC-32 mismatch in the %.4s chunk", bytes + position + 4);
        bytes[crc_at + 3] ^= 0x10;
        expect_refused(bytes, size, 3, reason, reason);
        bytes[crc_at + 3] ^= 0x10;
        position = crc_at + 4;
        chunks++;
    }
    cr_expect_eq(chunks, 11, "the fixture has ancillary chunks as well as critical ones");
    free(bytes);
}

Test(png, wrong_signature_and_tiny_files_are_refused)
{
    png_file f;
    build_rgb_2x2(&f);
    f.bytes[1] = 'p';
    expect_refused(f.bytes, f.size, 3, "a wrong signature", "signature");
    f.bytes[1] = 'P';
    expect_refused(f.bytes, 0, 3, "an empty file", "truncated");
    expect_refused(f.bytes, 5, 3, "half a signature", "truncated");
    expect_refused((const uint8_t *)"GIF89a", 6, 3, "a GIF", "signature");
    cr_expect(!png_is_png(f.bytes, 7));
    cr_expect(png_is_png(f.bytes, 8));
}

Test(png, ihdr_must_come_first_once_and_be_13_bytes)
{
    png_file f;
    uint8_t header[14] = {0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0, 0};
    memcpy(f.bytes, "\x89PNG\r\n\x1a\n", 8);
    f.size = 8;
    add_chunk(&f, "tEXt", (const uint8_t *)"a\0b", 3);
    add_chunk(&f, "IHDR", header, 13);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "tEXt before IHDR", "first chunk is tEXt");

    f.size = 8;
    add_chunk(&f, "IHDR", header, 14);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "a 14-byte IHDR", "not 13");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IHDR", header, 13);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "a second IHDR", "second IHDR");
}

/* Both sides of each bound: every legal colour type / depth pair is accepted by
 * png_read_header, every other pair refused; sides 0 and 2^31 refused, 2^31 - 1 accepted. */
Test(png, colour_type_and_depth_pairs_and_side_bounds)
{
    static const int legal[8][6] = {{1, 2, 4, 8, 16, 0}, {0}, {8, 16, 0}, {1, 2, 4, 8, 0},
                                    {8, 16, 0}, {0}, {8, 16, 0}, {0}};
    png_file f;
    size_t height, width;
    int gray, color, depth;
    simclr_error err;
    for (color = 0; color < 8; color++)
        for (depth = 0; depth <= 17; depth++) {
            int k, allowed = 0;
            for (k = 0; legal[color][k] != 0; k++)
                allowed |= legal[color][k] == depth;
            start_png(&f, 3, 2, depth, color, 0, 0, 0);
            cr_expect_eq(png_read_header(f.bytes, f.size, "pair.png", &height, &width, &gray,
                                         &err), allowed ? SIMCLR_OK : SIMCLR_FAILED,
                         "colour type %d, depth %d", color, depth);
            if (!allowed) {
                cr_expect_not_null(strstr(err.message, color == 1 || color >= 5 ? "colour type"
                                                                                : "bit depth"),
                                   "%s", err.message);
                finish_png(&f, rgb_2x2_scanlines, 4);
                expect_refused(f.bytes, f.size, 3, "an illegal colour type / depth pair", NULL);
            }
        }
    start_png(&f, 0, 2, 8, 2, 0, 0, 0);
    expect_refused(f.bytes, f.size, 3, "width 0", "each side must be");
    start_png(&f, 2, 0, 8, 2, 0, 0, 0);
    expect_refused(f.bytes, f.size, 3, "height 0", "each side must be");
    start_png(&f, 0x80000000u, 1, 8, 0, 0, 0, 0);
    expect_refused(f.bytes, f.size, 1, "width 2^31", "each side must be");
    start_png(&f, 1, 0x80000000u, 8, 0, 0, 0, 0);
    expect_refused(f.bytes, f.size, 1, "height 2^31", "each side must be");
    start_png(&f, 0x7fffffffu, 1, 8, 0, 0, 0, 0);
    cr_expect_eq(png_read_header(f.bytes, f.size, "wide.png", &height, &width, &gray, &err),
                 SIMCLR_OK, "width 2^31 - 1 is legal: %s", err.message);
    cr_expect_eq(width, 0x7fffffffu);
}

Test(png, compression_filter_and_interlace_methods_are_checked)
{
    png_file f;
    start_png(&f, 2, 2, 8, 2, 1, 0, 0);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "compression method 1", "compression method 1");
    start_png(&f, 2, 2, 8, 2, 0, 1, 0);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "filter method 1", "filter method 1");
    start_png(&f, 2, 2, 8, 2, 0, 0, 2);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "interlace method 2", "interlace method 2");
}

/* Filter types 0..4 are accepted on a scanline, 5 and 255 refused. */
Test(png, filter_type_above_4_is_refused)
{
    png_file f;
    uint8_t raw[14];
    int filter;
    for (filter = 0; filter <= 255; filter++) {
        uint8_t *pixels = NULL;
        size_t height, width;
        simclr_error err;
        memcpy(raw, rgb_2x2_scanlines, sizeof raw);
        raw[7] = (uint8_t)filter;
        start_png(&f, 2, 2, 8, 2, 0, 0, 0);
        finish_png(&f, raw, sizeof raw);
        if (filter <= 4) {
            cr_expect_eq(png_decode(f.bytes, f.size, "f.png", 3, LIMIT, &pixels, &height, &width,
                                    &err), SIMCLR_OK, "filter %d: %s", filter, err.message);
            simclr_free(pixels);
        } else if (filter == 5 || filter == 255) {
            char reason[32];
            snprintf(reason, sizeof reason, "filter type %d", filter);
            expect_refused(f.bytes, f.size, 3, reason, reason);
        }
    }
    {   /* in an interlaced image the message names the pass: a 1x1 Adam7 image has only pass 1 */
        const uint8_t adam7_raw[4] = {5, 1, 2, 3};
        start_png(&f, 1, 1, 8, 2, 0, 0, 1);
        finish_png(&f, adam7_raw, sizeof adam7_raw);
        expect_refused(f.bytes, f.size, 3, "filter 5 in Adam7 pass 1",
                       "filter type 5 on scanline 0 of Adam7 pass 1");
    }
}

/* The zlib stream: its header (method, window, check bits, preset dictionary), its Adler-32,
 * its length against the image's scanlines, and nothing after it. */
Test(png, zlib_header_adler_and_data_length_are_checked)
{
    png_file f;
    uint8_t z[256], raw[16];
    size_t n;
    struct {
        uint8_t cmf, flg;
        const char *what, *reason;
    } headers[4] = {{0x78, 0x02, "check bits", "check bits"},
                    {0x77, 0x09, "method 7", "not a zlib deflate stream"},
                    {0x88, 0x1c, "a 64 KiB window", "not a zlib deflate stream"},
                    {0x78, 0x20, "a preset dictionary", "preset dictionary"}};
    int k;
    for (k = 0; k < 4; k++) {
        cr_assert_eq((headers[k].cmf * 256 + headers[k].flg) % 31 != 0, k == 0);
        start_png(&f, 2, 2, 8, 2, 0, 0, 0);
        n = zlib_stored(z, rgb_2x2_scanlines, 14, 0);
        z[0] = headers[k].cmf, z[1] = headers[k].flg;
        add_chunk(&f, "IDAT", z, n);
        add_chunk(&f, "IEND", NULL, 0);
        expect_refused(f.bytes, f.size, 3, headers[k].what, headers[k].reason);
    }

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", z, zlib_stored(z, rgb_2x2_scanlines, 14, 1));
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "a wrong Adler-32", "Adler-32 mismatch");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    n = zlib_stored(z, rgb_2x2_scanlines, 14, 0);
    add_chunk(&f, "IDAT", z, n - 2);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "a cut Adler-32", "without its Adler-32");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    n = zlib_stored(z, rgb_2x2_scanlines, 14, 0);
    z[n] = 0;
    add_chunk(&f, "IDAT", z, n + 1);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "a byte after the Adler-32", "follow the zlib stream");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    finish_png(&f, rgb_2x2_scanlines, 13);
    expect_refused(f.bytes, f.size, 3, "one byte of scanlines missing", "too short");

    memcpy(raw, rgb_2x2_scanlines, 14);
    raw[14] = 0;
    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    finish_png(&f, raw, 15);
    expect_refused(f.bytes, f.size, 3, "one byte of scanlines too many", "decompresses to more");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", (const uint8_t *)"\x78\x01\x07\x00\x00\x00\x00\x00", 8);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "DEFLATE block type 3", "corrupt compressed data");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", (const uint8_t *)"\x78\x01\x01", 3);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "a 3-byte zlib stream", "too short for a zlib stream");
}

/* The image data may be split over consecutive IDAT chunks of any sizes (empty ones, one that
 * cuts the zlib header in two), but not interrupted by another chunk. */
Test(png, idat_chunks_concatenate_and_must_be_consecutive)
{
    png_file f;
    uint8_t z[64], *pixels;
    size_t n, height, width;
    simclr_error err;
    n = zlib_stored(z, rgb_2x2_scanlines, 14, 0);
    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", z, 1);
    add_chunk(&f, "IDAT", z + 1, 0);
    add_chunk(&f, "IDAT", z + 1, 9);
    add_chunk(&f, "IDAT", z + 10, n - 10);
    add_chunk(&f, "IEND", NULL, 0);
    cr_assert_eq(png_decode(f.bytes, f.size, "split.png", 3, LIMIT, &pixels, &height, &width,
                            &err), SIMCLR_OK, "%s", err.message);
    cr_expect(memcmp(pixels, rgb_2x2_pixels, 12) == 0);
    simclr_free(pixels);

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", z, 10);
    add_chunk(&f, "tEXt", (const uint8_t *)"a\0b", 3);
    add_chunk(&f, "IDAT", z + 10, n - 10);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "IDAT, tEXt, IDAT", "not consecutive");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "tEXt", (const uint8_t *)"a\0b", 3);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "no IDAT", "no image data");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", z, 0);
    add_chunk(&f, "IDAT", z, 0);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "two empty IDATs", "too short");
}

/* IEND: required (Pillow reads a file that stops after its last IDAT; this reader refuses it,
 * so that a cut file is never taken for a whole one), and empty. */
Test(png, iend_is_required_and_empty)
{
    png_file f;
    uint8_t z[64];
    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "IDAT", z, zlib_stored(z, rgb_2x2_scanlines, 14, 0));
    expect_refused(f.bytes, f.size, 3, "no IEND", "truncated");
    add_chunk(&f, "tEXt", (const uint8_t *)"a\0b", 3);
    expect_refused(f.bytes, f.size, 3, "no IEND after an ancillary chunk", "truncated");
    add_chunk(&f, "IEND", (const uint8_t *)"x", 1);
    expect_refused(f.bytes, f.size, 3, "IEND with data", "IEND");
}

/* Chunk lengths above 2^31 - 1 are refused as such; a length within bounds that runs past the
 * end of the file is a truncation; a type must be four letters; unknown critical chunks are
 * refused (unknown ancillary ones are skipped, see built_image_decodes_...). */
Test(png, chunk_length_type_and_unknown_critical_chunks)
{
    png_file f;
    const size_t after_ihdr = 33;
    build_rgb_2x2(&f);
    put_u32(f.bytes + after_ihdr, 0x80000000u);
    expect_refused(f.bytes, f.size, 3, "length 2^31", "more than 2^31 - 1");
    put_u32(f.bytes + after_ihdr, 0xffffffffu);
    expect_refused(f.bytes, f.size, 3, "length 2^32 - 1", "more than 2^31 - 1");
    put_u32(f.bytes + after_ihdr, 0x7fffffffu);
    expect_refused(f.bytes, f.size, 3, "length 2^31 - 1", "truncated");
    put_u32(f.bytes + after_ihdr, 0xfffffff4u); /* + 12 wraps around 32 bits */
    expect_refused(f.bytes, f.size, 3, "length 2^32 - 12", "more than 2^31 - 1");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "ID4T", (const uint8_t *)"x", 1);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "type ID4T", "not four letters");

    start_png(&f, 2, 2, 8, 2, 0, 0, 0);
    add_chunk(&f, "ABCD", (const uint8_t *)"x", 1);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    expect_refused(f.bytes, f.size, 3, "critical chunk ABCD", "unknown critical chunk ABCD");
}

/* PLTE: required before IDAT in a palette image, 1 to 256 entries of 3 bytes, once. */
Test(png, palette_rules)
{
    static const uint8_t palette[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const uint8_t raw[3] = {0, 0x01, 0x20}; /* 4-bit indices 0 1 2 0 */
    png_file f;
    uint8_t big[771];
    uint8_t *pixels;
    size_t height, width;
    simclr_error err;
    memset(big, 0, sizeof big);

    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    finish_png(&f, raw, sizeof raw);
    expect_refused(f.bytes, f.size, 3, "a palette image without PLTE", "without a PLTE");

    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    {
        uint8_t z[64];
        add_chunk(&f, "IDAT", z, zlib_stored(z, raw, sizeof raw, 0));
    }
    add_chunk(&f, "PLTE", palette, 9);
    add_chunk(&f, "IEND", NULL, 0);
    expect_refused(f.bytes, f.size, 3, "PLTE after IDAT", "without a PLTE");

    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    add_chunk(&f, "PLTE", palette, 9);
    add_chunk(&f, "PLTE", palette, 9);
    finish_png(&f, raw, sizeof raw);
    expect_refused(f.bytes, f.size, 3, "two PLTE chunks", "second PLTE");

    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    add_chunk(&f, "PLTE", palette, 0);
    finish_png(&f, raw, sizeof raw);
    expect_refused(f.bytes, f.size, 3, "an empty PLTE", "PLTE chunk of 0 bytes");

    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    add_chunk(&f, "PLTE", palette, 8);
    finish_png(&f, raw, sizeof raw);
    expect_refused(f.bytes, f.size, 3, "an 8-byte PLTE", "PLTE chunk of 8 bytes");

    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    add_chunk(&f, "PLTE", big, 771);
    finish_png(&f, raw, sizeof raw);
    expect_refused(f.bytes, f.size, 3, "a 257-entry PLTE", "PLTE chunk of 771 bytes");

    /* 256 entries in a 4-bit image: more than it can index, tolerated */
    start_png(&f, 4, 1, 4, 3, 0, 0, 0);
    memcpy(big, palette, 9);
    add_chunk(&f, "PLTE", big, 768);
    finish_png(&f, raw, sizeof raw);
    cr_assert_eq(png_decode(f.bytes, f.size, "p.png", 3, LIMIT, &pixels, &height, &width, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect(memcmp(pixels, "\1\2\3\4\5\6\7\10\11\1\2\3", 12) == 0);
    simclr_free(pixels);

    /* a PLTE in a gray image means nothing and is skipped, as Pillow does */
    start_png(&f, 2, 1, 8, 0, 0, 0, 0);
    add_chunk(&f, "PLTE", palette, 9);
    finish_png(&f, (const uint8_t *)"\0\x11\x22", 3);
    cr_assert_eq(png_decode(f.bytes, f.size, "g.png", 1, LIMIT, &pixels, &height, &width, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect(pixels[0] == 0x11 && pixels[1] == 0x22);
    simclr_free(pixels);
}

Test(png, output_channels_must_be_1_or_3)
{
    png_file f;
    build_rgb_2x2(&f);
    expect_refused(f.bytes, f.size, 2, "2 channels", "1 or 3");
    expect_refused(f.bytes, f.size, 4, "4 channels", "1 or 3");
    expect_refused(f.bytes, f.size, 1, "1 channel of an RGB image", "gray images only");
}

/* ---- (d) the pixel limit ---------------------------------------------------------------------- */

/* A 65535x65535 header (valid CRC, a few bytes of image data) is refused without a single
 * allocation, both by the pixel limit and, with no limit, because its few compressed bytes
 * cannot hold 1.3·10^10 bytes of scanlines. */
Test(png, huge_header_is_refused_before_allocating)
{
    png_file f;
    uint8_t *pixels;
    size_t height, width;
    unsigned long before;
    simclr_error err;
    start_png(&f, 65535, 65535, 8, 2, 0, 0, 0);
    finish_png(&f, rgb_2x2_scanlines, sizeof rgb_2x2_scanlines);
    cr_assert_eq(png_read_header(f.bytes, f.size, "huge.png", &height, &width, (int[1]){0},
                                 &err), SIMCLR_OK, "%s", err.message);
    cr_expect(height == 65535 && width == 65535);

    before = simclr_allocation_count();
    cr_expect_eq(png_decode(f.bytes, f.size, "huge.png", 3, 1u << 20, &pixels, &height, &width,
                            &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "over the limit of 1048576 pixels"), "%s",
                       err.message);
    cr_expect_eq(simclr_allocation_count(), before, "nothing may be allocated");

    cr_expect_eq(png_decode(f.bytes, f.size, "huge.png", 3, (size_t)-1, &pixels, &height, &width,
                            &err), SIMCLR_FAILED);
    /* 64-bit: the scanlines' 1.3·10^10 bytes are more than 1032 × the compressed size;
     * 32-bit: they do not fit in size_t */
    cr_expect(strstr(err.message, "too short") != NULL || strstr(err.message, "too large") != NULL,
              "%s", err.message);
    cr_expect_eq(simclr_allocation_count(), before, "nothing may be allocated");
    cr_expect_null(pixels);
}

/* The limit on both sides: a 3x5 image decodes with max_pixels 15, not with 14. */
Test(png, pixel_limit_boundary)
{
    size_t size, height, width;
    uint8_t *bytes = test_load_file(FIXTURES "rgba8_3x5_adam7.png", &size), *pixels;
    simclr_error err;
    cr_expect_eq(png_decode(bytes, size, "edge.png", 3, 15, &pixels, &height, &width, &err),
                 SIMCLR_OK, "%s", err.message);
    simclr_free(pixels);
    cr_expect_eq(png_decode(bytes, size, "edge.png", 3, 14, &pixels, &height, &width, &err),
                 SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "over the limit of 14 pixels"), "%s", err.message);
    free(bytes);
}
