/*
 * data/png.c — a PNG decoder: the bytes of a whole file in, Pillow's RGB or L pixels out.
 * Interface: data/png.h. DEFLATE: data/inflate.h; CRC-32 and Adler-32: data/file_io.h.
 *
 * The format, as far as this reader needs it
 *   A file is the 8-byte signature 89 50 4E 47 0D 0A 1A 0A, then chunks:
 *       length (4 bytes, big-endian, at most 2^31 - 1), type (4 ASCII letters), data (length
 *       bytes), CRC-32 of type and data (4 bytes, big-endian).
 *   A type whose first letter is upper-case is critical (the image cannot be read without it),
 *   lower-case ancillary (safe to skip). The critical types are:
 *       IHDR  first, 13 bytes: width, height (each 1 .. 2^31 - 1), bit depth, colour type,
 *             compression method (0), filter method (0), interlace method (0 none, 1 Adam7).
 *             Colour types and their bit depths: 0 gray (1, 2, 4, 8, 16), 2 RGB (8, 16),
 *             3 palette index (1, 2, 4, 8), 4 gray + alpha (8, 16), 6 RGBA (8, 16).
 *       PLTE  1 to 256 RGB entries of 3 bytes; required before the image data for colour type 3.
 *       IDAT  the image data: one zlib stream cut into any number of consecutive IDAT chunks.
 *       IEND  empty; the end of the file.
 *   The zlib stream: a 2-byte header (CMF: method 8 = deflate and a window of at most 32 KiB;
 *   FLG: check bits making CMF·256 + FLG a multiple of 31, no preset dictionary), the DEFLATE
 *   data, then the Adler-32 of the uncompressed bytes, big-endian.
 *   The uncompressed bytes are scanlines. A scanline holds one row of pixels, samples packed
 *   most significant bit first (depths below 8, a new byte for each row) or big-endian (16), and
 *   is preceded by a filter type byte. With bpp = the bytes of one pixel (at least 1),
 *   x = a byte of the scanline, a = the byte bpp to its left, b = the byte above it in the
 *   previous scanline, c = the byte above a (a, b, c are 0 outside the image or pass):
 *       0 None     x            2 Up         x + b          4 Paeth  x + paeth(a, b, c)
 *       1 Sub      x + a        3 Average    x + floor((a + b) / 2)
 *   all mod 256, where paeth(a, b, c) is whichever of a, b, c is nearest to a + b - c,
 *   preferring a, then b, on ties.
 *   Adam7 interlacing stores seven reduced images one after the other, each with its own
 *   scanlines (and none at all when it is empty); pass k holds the pixels (x, y) with
 *   x = x0 + i·dx, y = y0 + j·dy for (x0, y0, dx, dy) =
 *       (0,0,8,8) (4,0,8,8) (0,4,4,8) (2,0,4,4) (0,2,2,4) (1,0,2,2) (0,1,1,2).
 *
 * The pixels, as Debian's Pillow 9.4 gives Image.open(f).convert("RGB") or .convert("L")
 * (found by decoding files with Pillow; tests/fixtures/png/make_fixtures.py checks every rule
 * below on every fixture):
 *   gray, 1/2/4/8 bits     the sample scaled to 0..255: v·255, v·85, v·17, v; R = G = B = L
 *   gray, 16 bits          min(v, 255): Pillow reads 16-bit gray as 32-bit integers (mode "I")
 *                          and clips them when converting to 8 bits, so every value from 255
 *                          to 65535 becomes 255 (it does not take the high byte)
 *   gray + alpha           the gray sample; at 16 bits its high byte (v >> 8)
 *   RGB, RGBA              the R, G, B samples; at 16 bits their high bytes
 *   palette                index i gives PLTE entry i; an index past the last entry gives
 *                          (i, i, i) (Pillow's palette starts as a gray ramp that PLTE overwrites
 *                          from the start)
 *   alpha and tRNS         never change R, G, B or L (the tRNS chunk is skipped)
 * The 1-channel output is for gray images only (colour types 0 and 4), where it equals R = G = B;
 * asking for it from a colour image fails.
 *
 * What is refused (each with "name: problem" in the error): a wrong signature; truncation
 * anywhere before the end of IEND; a chunk length above 2^31 - 1; a chunk type that is not four
 * letters; a CRC-32 mismatch in any chunk, ancillary ones included; IHDR not first, of the wrong
 * length, or twice; zero or too large sides; a colour type / bit depth pair not in the table; a
 * compression, filter or interlace method other than those above; an image of more than
 * max_pixels pixels (checked before anything is allocated); an unknown critical chunk; a PLTE
 * that is empty, longer than 256 entries, not a multiple of 3 bytes, repeated, or after the image
 * data; a palette image without PLTE before its IDAT; IDAT chunks that are not consecutive or
 * absent; an IEND with data or no IEND at all; a bad zlib header or Adler-32; DEFLATE data that
 * is corrupt or decompresses to fewer or more bytes than the image's scanlines; bytes after the
 * zlib stream's Adler-32; a filter type above 4.
 * What is tolerated, as Pillow does: ancillary chunks anywhere (checked, then skipped), a PLTE in
 * an RGB or RGBA image (a suggested palette) or in a gray one (meaningless), a palette with more
 * entries than the bit depth can index, and anything after IEND.
 * Missing IEND: Pillow decodes a file that stops after its last IDAT; this reader does not, so
 * that a file cut short anywhere is reported rather than read as whole.
 */
#include "png.h"

#include <stdlib.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/size_arithmetic.h"
#include "file_io.h"
#include "inflate.h"

#define PNG_SIGNATURE_BYTES 8
#define PNG_MAX_LENGTH 0x7fffffffu /* chunk lengths and image sides: at most 2^31 - 1 */
#define PNG_HEADER_BYTES 33        /* the signature and the IHDR chunk (12 + 13 bytes) */
/* DEFLATE produces at most 1032 bytes per input byte (a 258-byte match in two 1-bit codes), so
 * image data needing more than 1032 × its compressed size is refused before allocating. */
#define DEFLATE_MAX_RATIO 1032

static const uint8_t png_signature[PNG_SIGNATURE_BYTES] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a,
                                                           0x0a};

static uint32_t big_endian_32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- chunks -------------------------------------------------------------------------------- */

typedef struct png_chunk {
    size_t offset;       /* of the chunk's length field in the file */
    size_t length;       /* of the data */
    char type[5];        /* four letters and a NUL */
    const uint8_t *data; /* (length) bytes inside the file */
} png_chunk;

/* Reads the chunk that starts at bytes[*position] and moves *position past it: the length within
 * bounds, four letters for a type, the CRC-32 checked. */
static int png_next_chunk(png_chunk *chunk, const uint8_t *bytes, size_t size, size_t *position,
                          const char *name, simclr_error *err)
{
    const size_t left = size - *position;
    uint32_t length;
    int i;
    chunk->offset = *position;
    if (left < 8)
        return simclr_fail(err, "%s: truncated: the chunk at byte %lu is cut off in its header",
                           name, (unsigned long)*position);
    length = big_endian_32(bytes + *position);
    for (i = 0; i < 4; i++) {
        const uint8_t letter = bytes[*position + 4 + (size_t)i];
        if (!((letter >= 'A' && letter <= 'Z') || (letter >= 'a' && letter <= 'z')))
            return simclr_fail(err, "%s: the chunk at byte %lu has a type that is not four "
                               "letters (corrupt file)", name, (unsigned long)*position);
        chunk->type[i] = (char)letter;
    }
    chunk->type[4] = '\0';
    if (length > PNG_MAX_LENGTH)
        return simclr_fail(err, "%s: the %s chunk at byte %lu declares %lu bytes, more than "
                           "2^31 - 1", name, chunk->type, (unsigned long)*position,
                           (unsigned long)length);
    if (length > left - 8 || left - 8 - length < 4)
        return simclr_fail(err, "%s: truncated: the %s chunk at byte %lu needs %lu bytes, the "
                           "file has %lu left", name, chunk->type, (unsigned long)*position,
                           (unsigned long)length + 12, (unsigned long)left);
    if (crc32_update(0, bytes + *position + 4, 4 + (size_t)length) !=
        big_endian_32(bytes + *position + 8 + length))
        return simclr_fail(err, "%s: CRC-32 mismatch in the %s chunk at byte %lu (corrupt file)",
                           name, chunk->type, (unsigned long)*position);
    chunk->length = length;
    chunk->data = bytes + *position + 8;
    *position += 12 + (size_t)length;
    return SIMCLR_OK;
}

/* ---- the header ---------------------------------------------------------------------------- */

typedef struct png_header {
    size_t width, height;    /* 1 .. 2^31 - 1 */
    int bit_depth;           /* 1, 2, 4, 8 or 16 */
    int color_type;          /* 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA */
    int interlaced;          /* 0 or 1 (Adam7) */
    size_t bits_per_pixel;   /* samples per pixel × bit depth: 1 .. 64 */
} png_header;

static int png_is_gray(const png_header *header)
{
    return header->color_type == 0 || header->color_type == 4;
}

/* The signature and IHDR at the start of bytes: the fields checked into *header. */
static int png_parse_header(png_header *header, const uint8_t *bytes, size_t size,
                            const char *name, simclr_error *err)
{
    static const char *const color_names[7] = {"gray", "", "RGB", "palette", "gray + alpha", "",
                                               "RGBA"};
    static const int samples_per_pixel[7] = {1, 0, 3, 1, 2, 0, 4};
    png_chunk chunk;
    size_t position = PNG_SIGNATURE_BYTES;
    uint32_t width, height;
    int depth, color, depth_allowed;
    if (size < PNG_SIGNATURE_BYTES && (size == 0 || memcmp(bytes, png_signature, size) == 0))
        return simclr_fail(err, "%s: truncated: %lu bytes, shorter than the PNG signature", name,
                           (unsigned long)size);
    if (!png_is_png(bytes, size))
        return simclr_fail(err, "%s: not a PNG file (wrong signature)", name);
    if (png_next_chunk(&chunk, bytes, size, &position, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (strcmp(chunk.type, "IHDR") != 0)
        return simclr_fail(err, "%s: the first chunk is %s, not IHDR", name, chunk.type);
    if (chunk.length != 13)
        return simclr_fail(err, "%s: the IHDR chunk has %lu bytes, not 13", name,
                           (unsigned long)chunk.length);
    width = big_endian_32(chunk.data);
    height = big_endian_32(chunk.data + 4);
    depth = chunk.data[8];
    color = chunk.data[9];
    if (width == 0 || height == 0 || width > PNG_MAX_LENGTH || height > PNG_MAX_LENGTH)
        return simclr_fail(err, "%s: a %lux%lu image (each side must be 1 .. 2^31 - 1)", name,
                           (unsigned long)width, (unsigned long)height);
    depth_allowed = color == 0 ? depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
                  : color == 3 ? depth == 1 || depth == 2 || depth == 4 || depth == 8
                  : color == 2 || color == 4 || color == 6 ? depth == 8 || depth == 16
                  : 0;
    if (color > 6 || samples_per_pixel[color] == 0)
        return simclr_fail(err, "%s: colour type %d (0, 2, 3, 4 or 6 exist)", name, color);
    if (!depth_allowed)
        return simclr_fail(err, "%s: bit depth %d is not allowed for colour type %d (%s)", name,
                           depth, color, color_names[color]);
    if (chunk.data[10] != 0)
        return simclr_fail(err, "%s: compression method %d (only 0, deflate, exists)", name,
                           chunk.data[10]);
    if (chunk.data[11] != 0)
        return simclr_fail(err, "%s: filter method %d (only 0 exists)", name, chunk.data[11]);
    if (chunk.data[12] > 1)
        return simclr_fail(err, "%s: interlace method %d (0 none or 1 Adam7)", name,
                           chunk.data[12]);
    header->width = width;
    header->height = height;
    header->bit_depth = depth;
    header->color_type = color;
    header->interlaced = chunk.data[12];
    header->bits_per_pixel = (size_t)samples_per_pixel[color] * (size_t)depth;
    return SIMCLR_OK;
}

int png_is_png(const uint8_t *bytes, size_t size)
{
    return size >= PNG_SIGNATURE_BYTES && memcmp(bytes, png_signature, PNG_SIGNATURE_BYTES) == 0;
}

int png_read_header(const uint8_t *bytes, size_t size, const char *name, size_t *height,
                    size_t *width, int *gray, simclr_error *err)
{
    png_header header;
    if (png_parse_header(&header, bytes, size, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    *height = header.height;
    *width = header.width;
    *gray = png_is_gray(&header);
    return SIMCLR_OK;
}

/* ---- the chunks after IHDR ----------------------------------------------------------------- */

typedef struct png_contents {
    const uint8_t *palette; /* (palette_entries, 3) inside the file, or NULL */
    size_t palette_entries;
    size_t idat_offset;     /* of the first IDAT chunk */
    size_t idat_chunks;     /* how many, consecutive */
    size_t idat_bytes;      /* their data, in all: the zlib stream's size */
} png_contents;

/* Walks the chunks from just after IHDR to IEND: the palette, where the image data lies, and
 * the chunk order checked. */
static int png_scan_chunks(png_contents *contents, const png_header *header, const uint8_t *bytes,
                           size_t size, const char *name, simclr_error *err)
{
    size_t position = PNG_HEADER_BYTES, run_end = 0;
    int idat_run = 0; /* 0 before the IDAT chunks, 1 among them, 2 after them */
    png_chunk chunk;
    memset(contents, 0, sizeof *contents);
    for (;;) {
        if (png_next_chunk(&chunk, bytes, size, &position, name, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (strcmp(chunk.type, "IDAT") == 0) {
            if (idat_run == 2)
                return simclr_fail(err, "%s: the IDAT chunks are not consecutive (another chunk "
                                   "at byte %lu lies between them)", name,
                                   (unsigned long)run_end);
            if (header->color_type == 3 && contents->palette == NULL)
                return simclr_fail(err, "%s: a palette image without a PLTE chunk before its "
                                   "image data", name);
            if (idat_run == 0)
                contents->idat_offset = chunk.offset;
            idat_run = 1;
            contents->idat_chunks++;
            contents->idat_bytes += chunk.length; /* at most the file's size: no overflow */
            continue;
        }
        if (idat_run == 1) {
            idat_run = 2;
            run_end = chunk.offset;
        }
        if (strcmp(chunk.type, "IEND") == 0) {
            if (chunk.length != 0)
                return simclr_fail(err, "%s: the IEND chunk holds %lu bytes (it must be empty)",
                                   name, (unsigned long)chunk.length);
            break;
        }
        if (strcmp(chunk.type, "PLTE") == 0) {
            if (idat_run != 0)
                return simclr_fail(err, "%s: the PLTE chunk comes after the image data", name);
            if (contents->palette != NULL)
                return simclr_fail(err, "%s: a second PLTE chunk", name);
            if (chunk.length == 0 || chunk.length > 768 || chunk.length % 3 != 0)
                return simclr_fail(err, "%s: a PLTE chunk of %lu bytes (1 to 256 entries of 3 "
                                   "bytes)", name, (unsigned long)chunk.length);
            contents->palette = chunk.data;
            contents->palette_entries = chunk.length / 3;
        } else if (strcmp(chunk.type, "IHDR") == 0) {
            return simclr_fail(err, "%s: a second IHDR chunk at byte %lu", name,
                               (unsigned long)chunk.offset);
        } else if (chunk.type[0] >= 'A' && chunk.type[0] <= 'Z') {
            return simclr_fail(err, "%s: unknown critical chunk %s at byte %lu", name, chunk.type,
                               (unsigned long)chunk.offset);
        } /* else ancillary: its CRC checked, skipped */
    }
    if (contents->idat_chunks == 0)
        return simclr_fail(err, "%s: no image data (no IDAT chunk before IEND)", name);
    return SIMCLR_OK;
}

/* ---- the layout of the scanlines ----------------------------------------------------------- */

typedef struct png_pass {
    unsigned char x0, y0, dx, dy; /* the pass holds (x0 + i·dx, y0 + j·dy) */
} png_pass;

static const png_pass adam7_passes[7] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                         {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
static const png_pass whole_image = {0, 0, 1, 1};

typedef struct png_layout {
    const png_pass *passes; /* adam7_passes or &whole_image */
    int pass_count;         /* 7 or 1 */
    size_t width[7], height[7]; /* of each pass's reduced image (0 for an empty pass) */
    size_t stride[7];       /* bytes of one scanline of the pass, without its filter byte */
    size_t total;           /* bytes of all scanlines with their filter bytes */
} png_layout;

/* Sizes every pass's scanlines, all products checked for overflow. */
static int png_plan_layout(png_layout *layout, const png_header *header, const char *name,
                           simclr_error *err)
{
    int k;
    layout->passes = header->interlaced ? adam7_passes : &whole_image;
    layout->pass_count = header->interlaced ? 7 : 1;
    layout->total = 0;
    for (k = 0; k < layout->pass_count; k++) {
        const png_pass *pass = &layout->passes[k];
        size_t bits, pass_bytes;
        /* sides are at most 2^31 - 1, so adding dx - 1 cannot overflow */
        layout->width[k] = header->width > pass->x0
                               ? (header->width - pass->x0 + pass->dx - 1) / pass->dx : 0;
        layout->height[k] = header->height > pass->y0
                                ? (header->height - pass->y0 + pass->dy - 1) / pass->dy : 0;
        layout->stride[k] = 0;
        if (layout->width[k] == 0 || layout->height[k] == 0)
            continue; /* an empty pass has no scanlines, not even filter bytes */
        if (size_multiply_checked(layout->width[k], header->bits_per_pixel, &bits) != SIMCLR_OK ||
            size_multiply_checked(bits / 8 + (bits % 8 != 0) + 1, layout->height[k],
                                  &pass_bytes) != SIMCLR_OK ||
            size_add_checked(layout->total, pass_bytes, &layout->total) != SIMCLR_OK)
            return simclr_fail(err, "%s: a %lux%lu image is too large for this machine", name,
                               (unsigned long)header->width, (unsigned long)header->height);
        layout->stride[k] = bits / 8 + (bits % 8 != 0);
    }
    return SIMCLR_OK;
}

/* ---- the zlib stream ----------------------------------------------------------------------- */

/* Decompresses the zlib stream z (z_size bytes) into scanlines (expected bytes, exactly),
 * checking its header and Adler-32 and that nothing follows. */
static int png_decompress(uint8_t *scanlines, /* (expected) */
                          size_t expected, const uint8_t *z, size_t z_size, const char *name,
                          simclr_error *err)
{
    size_t produced, consumed, after;
    if (z_size < 2 + 4)
        return simclr_fail(err, "%s: the image data (%lu bytes) is too short for a zlib stream",
                           name, (unsigned long)z_size);
    if ((z[0] & 0x0f) != 8 || (z[0] >> 4) > 7)
        return simclr_fail(err, "%s: the image data is not a zlib deflate stream with a window "
                           "of at most 32 KiB (header byte 0x%02x)", name, z[0]);
    if (((unsigned)z[0] * 256u + z[1]) % 31u != 0)
        return simclr_fail(err, "%s: the zlib header's check bits are wrong (corrupt file)",
                           name);
    if (z[1] & 0x20)
        return simclr_fail(err, "%s: the zlib stream asks for a preset dictionary (not allowed "
                           "in PNG)", name);
    if (inflate_raw(scanlines, expected, &produced, z + 2, z_size - 2, &consumed, name, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    if (produced != expected)
        return simclr_fail(err, "%s: the image data is too short: it decompresses to %lu bytes, "
                           "the image needs %lu", name, (unsigned long)produced,
                           (unsigned long)expected);
    after = z_size - 2 - consumed;
    if (after < 4)
        return simclr_fail(err, "%s: truncated: the zlib stream ends without its Adler-32", name);
    if (adler32_update(1, scanlines, expected) != big_endian_32(z + 2 + consumed))
        return simclr_fail(err, "%s: Adler-32 mismatch in the image data (corrupt file)", name);
    if (after > 4)
        return simclr_fail(err, "%s: %lu bytes follow the zlib stream in the image data", name,
                           (unsigned long)(after - 4));
    return SIMCLR_OK;
}

/* Copies the data of the idat_chunks consecutive IDAT chunks starting at bytes[offset] (already
 * checked by png_scan_chunks) into z. */
static void png_gather_idat(uint8_t *z, /* (idat_bytes) */
                            const uint8_t *bytes, size_t offset, size_t idat_chunks)
{
    size_t k, used = 0;
    for (k = 0; k < idat_chunks; k++) {
        const size_t length = big_endian_32(bytes + offset);
        memcpy(z + used, bytes + offset + 8, length);
        used += length;
        offset += 12 + length;
    }
}

/* ---- scanlines to pixels ------------------------------------------------------------------- */

static uint8_t paeth_predictor(int a, int b, int c)
{
    const int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* Undoes one scanline's filter in place. prior is the scanline above, already unfiltered, or
 * NULL for the first scanline of the image or pass (all its bytes then count as 0: Up becomes
 * None, Paeth becomes Sub). bpp: bytes per pixel, at least 1. */
static void png_unfilter(uint8_t *line, /* (stride) */
                         const uint8_t *prior, /* (stride) or NULL */
                         size_t stride, size_t bpp, int filter)
{
    size_t i;
    switch (filter) {
    case 1: /* Sub */
        for (i = bpp; i < stride; i++)
            line[i] = (uint8_t)(line[i] + line[i - bpp]);
        break;
    case 2: /* Up */
        if (prior != NULL)
            for (i = 0; i < stride; i++)
                line[i] = (uint8_t)(line[i] + prior[i]);
        break;
    case 3: /* Average */
        if (prior != NULL) {
            for (i = 0; i < bpp && i < stride; i++)
                line[i] = (uint8_t)(line[i] + (prior[i] >> 1));
            for (i = bpp; i < stride; i++)
                line[i] = (uint8_t)(line[i] + ((line[i - bpp] + prior[i]) >> 1));
        } else {
            for (i = bpp; i < stride; i++)
                line[i] = (uint8_t)(line[i] + (line[i - bpp] >> 1));
        }
        break;
    case 4: /* Paeth: with a = c = 0 on the left edge it predicts b */
        if (prior != NULL) {
            for (i = 0; i < bpp && i < stride; i++)
                line[i] = (uint8_t)(line[i] + prior[i]);
            for (i = bpp; i < stride; i++)
                line[i] = (uint8_t)(line[i] + paeth_predictor(line[i - bpp], prior[i],
                                                              prior[i - bpp]));
        } else {
            for (i = bpp; i < stride; i++)
                line[i] = (uint8_t)(line[i] + line[i - bpp]);
        }
        break;
    default: /* 0, None */
        break;
    }
}

/* The 8-bit colour of every gray level or palette index (depths up to 8), as Pillow maps them:
 * start from the gray ramp i → (i, i, i), then gray levels scaled to 0..255, or the PLTE
 * entries written over the start of the ramp. */
static void png_color_table(uint8_t *table, /* (256, 3) */
                            const png_header *header, const png_contents *contents)
{
    size_t i;
    for (i = 0; i < 256; i++)
        table[3 * i] = table[3 * i + 1] = table[3 * i + 2] = (uint8_t)i;
    if (header->color_type == 3) {
        memcpy(table, contents->palette, 3 * contents->palette_entries);
    } else if (header->color_type == 0 && header->bit_depth <= 8) {
        const size_t top = ((size_t)1 << header->bit_depth) - 1; /* 1, 3, 15 or 255 */
        for (i = 0; i <= top; i++)
            table[3 * i] = table[3 * i + 1] = table[3 * i + 2] = (uint8_t)(i * (255 / top));
    }
}

/* Writes the count pixels of one unfiltered scanline to the output: pixel i to
 * out[i·step·channels ..], as RGB (channels 3) or L (channels 1, gray images only). */
static void png_scanline_to_pixels(uint8_t *out, /* (count, step, channels): the first of each step */
                                   size_t step, size_t channels,
                                   const uint8_t *line, /* the scanline, unfiltered */
                                   size_t count, const png_header *header,
                                   const uint8_t *table /* (256, 3) */)
{
    const size_t jump = step * channels;
    size_t i;
    if (header->color_type == 0 && header->bit_depth == 16) {
        /* Pillow's mode "I": the 16-bit value clipped to 255 */
        for (i = 0; i < count; i++, out += jump) {
            const unsigned value = (unsigned)line[2 * i] << 8 | line[2 * i + 1];
            const uint8_t gray = value > 255 ? 255 : (uint8_t)value;
            out[0] = gray;
            if (channels == 3)
                out[1] = out[2] = gray;
        }
    } else if (header->color_type == 0 || header->color_type == 3) {
        /* a gray level or palette index of 1, 2, 4 or 8 bits, through the table */
        const unsigned depth = (unsigned)header->bit_depth, mask = (1u << depth) - 1u;
        for (i = 0; i < count; i++, out += jump) {
            const size_t bit = i * depth; /* within the scanline, most significant first */
            const unsigned index = (line[bit >> 3] >> (8u - depth - (unsigned)(bit & 7))) & mask;
            const uint8_t *color = table + 3 * index;
            out[0] = color[0];
            if (channels == 3)
                out[1] = color[1], out[2] = color[2];
        }
    } else {
        /* gray + alpha, RGB, RGBA at 8 or 16 bits: the first byte of each sample is the 8-bit
         * value (the high byte at 16 bits); alpha is never read */
        const size_t pixel_bytes = header->bits_per_pixel / 8,
                     sample_bytes = (size_t)header->bit_depth / 8;
        const size_t green = header->color_type == 4 ? 0 : sample_bytes,
                     blue = header->color_type == 4 ? 0 : 2 * sample_bytes;
        for (i = 0; i < count; i++, out += jump) {
            const uint8_t *pixel = line + i * pixel_bytes;
            out[0] = pixel[0];
            if (channels == 3)
                out[1] = pixel[green], out[2] = pixel[blue];
        }
    }
}

/* Unfilters every scanline in place and writes its pixels to their places in the image. */
static int png_reconstruct(uint8_t *pixels, /* (height, width, channels) */
                           uint8_t *scanlines, /* (layout->total): filter byte + stride, per row */
                           const png_layout *layout, const png_header *header,
                           const png_contents *contents, size_t channels, const char *name,
                           simclr_error *err)
{
    const size_t bpp = header->bits_per_pixel < 8 ? 1 : header->bits_per_pixel / 8;
    uint8_t table[256 * 3];
    size_t offset = 0, row;
    int k;
    png_color_table(table, header, contents);
    for (k = 0; k < layout->pass_count; k++) {
        const png_pass *pass = &layout->passes[k];
        const size_t stride = layout->stride[k];
        const uint8_t *prior = NULL;
        if (layout->width[k] == 0 || layout->height[k] == 0)
            continue;
        for (row = 0; row < layout->height[k]; row++) {
            uint8_t *line = scanlines + offset + 1;
            const int filter = scanlines[offset];
            const size_t y = pass->y0 + row * pass->dy;
            if (filter > 4 && layout->pass_count == 1)
                return simclr_fail(err, "%s: filter type %d on scanline %lu (0 to 4 exist)",
                                   name, filter, (unsigned long)row);
            if (filter > 4)
                return simclr_fail(err, "%s: filter type %d on scanline %lu of Adam7 pass %d "
                                   "(0 to 4 exist)", name, filter, (unsigned long)row, k + 1);
            png_unfilter(line, prior, stride, bpp, filter);
            png_scanline_to_pixels(pixels + (y * header->width + pass->x0) * channels, pass->dx,
                                   channels, line, layout->width[k], header, table);
            prior = line;
            offset += 1 + stride;
        }
    }
    return SIMCLR_OK;
}

/* ---- the whole file ------------------------------------------------------------------------ */

int png_decode(const uint8_t *bytes, size_t size, const char *name, size_t channels,
               size_t max_pixels, uint8_t **pixels, size_t *height, size_t *width,
               simclr_error *err)
{
    png_header header;
    png_contents contents;
    png_layout layout;
    size_t pixel_count, output_bytes;
    const uint8_t *z;
    uint8_t *gathered = NULL, *scanlines = NULL, *image = NULL;
    int status = SIMCLR_FAILED;
    *pixels = NULL;
    if (png_parse_header(&header, bytes, size, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (channels != 1 && channels != 3)
        return simclr_fail(err, "%s: %lu output channels asked for (1 or 3)", name,
                           (unsigned long)channels);
    if (channels == 1 && !png_is_gray(&header))
        return simclr_fail(err, "%s: a colour image (colour type %d): 1-channel output is for "
                           "gray images only (colour types 0 and 4)", name, header.color_type);
    if (size_multiply_checked(header.width, header.height, &pixel_count) != SIMCLR_OK ||
        pixel_count > max_pixels)
        return simclr_fail(err, "%s: a %lux%lu image is over the limit of %lu pixels", name,
                           (unsigned long)header.width, (unsigned long)header.height,
                           (unsigned long)max_pixels);
    if (png_scan_chunks(&contents, &header, bytes, size, name, err) != SIMCLR_OK ||
        png_plan_layout(&layout, &header, name, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (layout.total / DEFLATE_MAX_RATIO > contents.idat_bytes)
        return simclr_fail(err, "%s: the image data is too short: %lu compressed bytes cannot "
                           "hold the %lu bytes of a %lux%lu image", name,
                           (unsigned long)contents.idat_bytes, (unsigned long)layout.total,
                           (unsigned long)header.width, (unsigned long)header.height);
    if (size_multiply_checked(pixel_count, channels, &output_bytes) != SIMCLR_OK)
        return simclr_fail(err, "%s: a %lux%lu image is too large for this machine", name,
                           (unsigned long)header.width, (unsigned long)header.height);

    /* the zlib stream: in place when it lies in one IDAT chunk, else gathered from all */
    if (contents.idat_chunks == 1) {
        z = bytes + contents.idat_offset + 8;
    } else {
        gathered = simclr_calloc(contents.idat_bytes, 1, name, err);
        if (gathered == NULL)
            return SIMCLR_FAILED;
        png_gather_idat(gathered, bytes, contents.idat_offset, contents.idat_chunks);
        z = gathered;
    }
    scanlines = simclr_calloc(layout.total, 1, name, err);
    if (scanlines == NULL)
        goto done;
    image = simclr_calloc(output_bytes, 1, name, err);
    if (image == NULL ||
        png_decompress(scanlines, layout.total, z, contents.idat_bytes, name, err) != SIMCLR_OK ||
        png_reconstruct(image, scanlines, &layout, &header, &contents, channels, name, err) !=
            SIMCLR_OK)
        goto done;
    *pixels = image;
    *height = header.height;
    *width = header.width;
    image = NULL;
    status = SIMCLR_OK;
done:
    simclr_free(image);
    simclr_free(scanlines);
    simclr_free(gathered);
    return status;
}
