/*
 * data/jpeg.c — a JPEG decoder in plain C99 (baseline, extended-sequential and progressive
 * DCT with Huffman coding, 8-bit samples). What is read and what is refused: data/jpeg.h.
 *
 * The format. A JPEG file is a sequence of marker segments, each `FF xx` and (except for SOI,
 * EOI, RSTn and TEM) a big-endian 16-bit length that counts itself:
 *   SOI             start of image, first;
 *   DQT             quantisation tables: 64 values (8- or 16-bit) in zigzag order, slots 0..3;
 *   DHT             Huffman tables: 16 counts of codes of lengths 1..16, then the symbols;
 *                   class 0 (DC) or 1 (AC), slots 0..3;
 *   DRI             the restart interval: an RSTn marker after every that many MCUs;
 *   SOFn            the frame: precision, height, width, and per component an id, horizontal
 *                   and vertical sampling factors h, v (1..4) and a quantisation slot;
 *   SOS             a scan: its components (with their DC/AC table slots), the spectral band
 *                   Ss..Se and the successive-approximation bits Ah, Al, then the entropy-coded
 *                   data, in which a data byte FF is stuffed as FF 00;
 *   APPn, COM       skipped, except APP0 "JFIF" and APP14 "Adobe" (its colour transform flag);
 *   EOI             end of image.
 * The image is cut into 8×8 blocks per component; a component with sampling factors h, v
 * (of at most Hmax, Vmax over all components) holds ceil(width·h/Hmax) × ceil(height·v/Vmax)
 * samples. A scan of several components is coded in MCUs (minimum coded units) of h×v blocks
 * of each component in turn, ceil(width/(8·Hmax)) × ceil(height/(8·Vmax)) of them, so the
 * right and bottom MCUs may hold dummy blocks outside the image; a scan of one component codes
 * just its ceil(samples/8) blocks, one per MCU. Each block is a DC difference (a Huffman-coded
 * bit length, then that many bits) from the previous block of the component, then AC
 * coefficients in zigzag order as (run of zeros, bit length) symbols; progressive files send
 * the coefficients in several scans: DC first / DC refinement bits, and per component AC bands
 * Ss..Se, first at reduced precision (>> Al, with runs of end-of-block over many blocks) and
 * then one refinement bit per scan.
 *
 * The pipeline: the markers are read in order; each scan's blocks are decoded (sequential:
 * straight into the component's sample plane through the inverse DCT; progressive: into a
 * coefficient array per component, transformed after the last scan); then, row by row, every
 * component is upsampled to the image size and the row converted to RGB. A sequential file
 * whose one scan holds every component (the usual kind) is streamed as libjpeg does: each MCU
 * row of samples goes into a ring of two, and the rows of pixels are made as soon as the
 * samples they need are decoded, so that only the pixels are allocated at full size.
 *
 * The pixels are meant to be identical to libjpeg-turbo's with its default settings, which is
 * what Pillow's Image.open(...).convert("RGB") (or "L") gives:
 *   - the accurate integer inverse DCT ("islow": the Loeffler-Ligtenberg-Moschytz butterfly
 *     with 13-bit fixed-point constants, a column pass whose results keep 2 extra bits, a row
 *     pass, each rounding by adding half before an arithmetic shift), samples clamped to 0..255;
 *   - "fancy" upsampling (a triangle filter, rounding up and down in turn): for 2:1
 *     horizontal (4:2:2), input sample x gives the outputs (3·in[x] + in[x−1] + 1) >> 2 and
 *     (3·in[x] + in[x+1] + 2) >> 2, the first and last outputs copy the edge samples; for 2:1
 *     both ways (4:2:0), first the column sums s = 3·nearer row + farther row, then the outputs
 *     (3·s[x] + s[x−1] + 8) >> 4 and (3·s[x] + s[x+1] + 7) >> 4, with (4·s + 8) >> 4 and
 *     (4·s + 7) >> 4 at the left and right edges; for 2:1 vertical only (4:4:0),
 *     (3·nearer + farther + 1) >> 2 for the upper output row of a pair, + 2 for the lower. The
 *     row above the first and the row below the last of the component's samples repeat them.
 *     A component only 1 or 2 samples wide is replicated instead (libjpeg-turbo filters from 3
 *     samples on), and every other integer ratio (4:1:1, 4:1:0, 3:1, …) is plain replication;
 *   - YCbCr → RGB in 16-bit fixed point (libjpeg-turbo's tables; computed here per pixel with
 *     the same numbers), the constants rounded to multiples of 2^−16 (1.402 → 91881/2^16,
 *     1.772 → 116130, 0.71414 → 46802, 0.34414 → 22554):
 *     R = Y + round(1.402·(Cr−128)), B = Y + round(1.772·(Cb−128)),
 *     G = Y + ⌊(2^15 − 0.34414·2^16·(Cb−128) − 0.71414·2^16·(Cr−128)) / 2^16⌋, clamped;
 *   - colour space: 1 component is gray; 3 components are YCbCr, except when no JFIF APP0 is
 *     present and an Adobe APP14 says transform 0, or, with neither marker, the component ids
 *     are 'R', 'G', 'B': then they are R, G, B as they stand.
 * Where this decoder can differ from libjpeg-turbo (checked identical on every fixture of
 * tests/test_jpeg.c, bit for bit):
 *   - corrupt or truncated data is refused (libjpeg-turbo warns, pads with zeros and goes on);
 *     so are unexpected restart markers, Huffman codes that match no table entry, a
 *     progression that refines coefficients out of order, tables used before they are
 *     defined (libjpeg-turbo substitutes the standard Huffman tables), component ids that
 *     repeat;
 *   - a progressive file whose scans leave some of the first AC coefficients unrefined is
 *     shown as its coefficients say: libjpeg-turbo would smooth such blocks ("block
 *     smoothing"), which encoders' usual scan scripts never trigger;
 *   - only for coefficients no encoder produces (a dequantised value beyond ±32767, or an
 *     inverse DCT result beyond −384..639): this decoder computes exactly and clamps, while
 *     libjpeg-turbo's vector code works in 16 bits and its plain C code wraps around.
 *
 * Buffer shapes: a component's sample plane is (rows, stride) u8 with rows and stride the
 * component's samples rounded up to whole blocks (streaming: the rows of 2 MCU rows);
 * progressive coefficients are (blocks down, blocks across, 64) i16 in natural (row-major)
 * order within a block; the output is (height, width, channels) u8.
 */
#include "jpeg.h"

#include <string.h>

#include "../nn/memory.h"
#include "../nn/size_arithmetic.h"

#define JPEG_MAX_COMPONENTS 4   /* read from a frame header (4 is then refused) */
#define JPEG_FAST_BITS 9        /* Huffman codes up to this long are found in one look-up */
#define JPEG_MAX_BLOCKS_IN_MCU 10
#define JPEG_NO_CODE (-1)       /* huffman_decode: the bits match no code of the table */

/* The zigzag sequence: natural (row-major) index of the k-th coefficient sent. */
static const uint8_t jpeg_natural_order[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

/* A Huffman table, ready for decoding. Codes are canonical: those of each length are
 * consecutive integers, so a code of length l with value c (its l bits read as a number) is
 * valid when c <= max_code[l] (given it matched no shorter code), and its symbol is
 * symbols[c + value_offset[l]]. */
typedef struct jpeg_huffman_table {
    int defined;
    uint16_t fast[1 << JPEG_FAST_BITS]; /* by the next 9 bits: length << 8 | symbol, or 0 when
                                           the code is longer than 9 bits */
    /* AC tables only: when a code and the magnitude bits after it fit in 9 bits together, by
     * those 9 bits: run << 4 | total length in fast_ac_packed (0 when they do not fit), and the
     * coefficient's value in fast_ac_value */
    uint8_t fast_ac_packed[1 << JPEG_FAST_BITS];
    int16_t fast_ac_value[1 << JPEG_FAST_BITS];
    int32_t max_code[17];     /* [l], l = 1..16: the largest l-bit code, -1 when none */
    int32_t value_offset[17]; /* [l]: index into symbols minus code */
    uint8_t symbols[256];
} jpeg_huffman_table;

typedef struct jpeg_component {
    int id;                   /* Ci of the frame header */
    int h, v;                 /* sampling factors, 1..4 */
    int quant_slot;           /* Tq */
    int dc_slot, ac_slot;     /* the current scan's Td, Ta */
    int quant_latched;        /* the quantisation table was copied at the first scan */
    uint16_t quant[64];       /* natural order */
    int h_ratio, v_ratio;     /* Hmax / h and Vmax / v: the upsampling factors */
    size_t width, height;     /* samples: ceil(image width · h / Hmax), likewise down */
    size_t blocks_wide;       /* ceil(width / 8): the blocks that hold samples of the image */
    size_t blocks_high;
    size_t stride;            /* 8 · blocks_wide */
    size_t strip_rows;        /* rows of the plane per strip: those of one MCU row of the scan */
    size_t strips;            /* strips the plane holds: all (one strip of every row) or, when
                                 streaming, a ring of 2 (see component_row) */
    size_t rows_decoded;      /* streaming: rows of the component decoded so far */
    uint8_t *plane;           /* (strips · strip_rows, stride) samples */
    int16_t *coefficients;    /* progressive only: (blocks_high, blocks_wide, 64) */
    int dc_predictor;         /* the previous block's DC value in this scan */
    int scanned;              /* sequential: the component's scan has been read */
    signed char coefficient_bits[64]; /* progressive, by zigzag index: Al of the last scan
                                         that sent the coefficient, -1 if none yet */
} jpeg_component;

/* The entropy-coded data being read: bits most significant first, at the top of `buffer`.
 * Loading stops at a marker (or the end of the data); zero bits are appended from then on
 * and counted in `padding`, so that reading into them (count < padding) is detected. */
typedef struct jpeg_bits {
    const uint8_t *bytes;
    size_t size, position;    /* position: the next byte to load */
    uint64_t buffer;
    int count;                /* valid bits at the top of buffer, padding included */
    int padding;              /* zero bits appended after the end of the data */
    int at_marker;            /* loading stopped at a marker, whose FF is at position */
} jpeg_bits;

typedef struct jpeg_decoder {
    const uint8_t *bytes;
    size_t size, position;    /* position: the next marker's FF (or garbage before it) */
    const char *name;
    simclr_error *err;
    uint16_t quant[4][64];    /* natural order */
    int quant_defined[4];
    jpeg_huffman_table dc_tables[4], ac_tables[4];
    unsigned restart_interval; /* MCUs between restart markers, 0 for none */
    int frame_marker;         /* 0xC0, 0xC1 or 0xC2 once the frame header was read, else 0 */
    int progressive;
    size_t width, height;
    int component_count;
    jpeg_component components[JPEG_MAX_COMPONENTS];
    int h_max, v_max;
    size_t mcus_wide, mcus_high; /* the MCUs of a scan of several components */
    int saw_jfif, saw_adobe, adobe_transform;
    int scans;                /* scans read so far */
    /* the current scan */
    int scan_count;
    jpeg_component *scan[JPEG_MAX_COMPONENTS];
    int spectral_start, spectral_end, approximation_high, approximation_low;
    unsigned eob_run;         /* progressive AC: blocks left in the current end-of-band run */
    jpeg_bits bits;
    /* the output */
    int streaming;            /* a sequential scan of every component: rows are written as the
                                 MCU rows that they need are decoded */
    size_t channels;
    uint8_t *pixels;          /* (height, width, channels), once the planes are allocated */
    size_t rows_written;      /* rows of pixels written so far */
    uint8_t *upsampled[3];    /* per component, one upsampled row (h_ratio · width + 1) */
    uint16_t *sums;           /* scratch of the 2×2 filter: (widest component), at most 1020 */
} jpeg_decoder;

/* ------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------ */

static unsigned read_u16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* ⌊x / 2^n⌋ for any sign, without relying on how >> treats negative numbers (gcc and clang
 * compile this to one arithmetic shift). */
static int64_t shift_right_floor(int64_t x, int n)
{
    return x >= 0 ? x >> n : -1 - ((-1 - x) >> n);
}

static uint8_t clamp_to_byte(int64_t x)
{
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

/* Row i of component c's samples. The plane holds the component's rows in strips of
 * strip_rows rows (one MCU row of the scan), strip s in slot s mod strips: with every strip
 * held, that is simply row i; when streaming, 2 slots make a ring in which the strip being
 * decoded replaces the one before the last (see write_ready_rows for why 2 suffice). */
static uint8_t *component_row(const jpeg_component *c, size_t i)
{
    const size_t slot = (i / c->strip_rows) % c->strips;
    return c->plane + (slot * c->strip_rows + i % c->strip_rows) * c->stride;
}

static int truncated(const jpeg_decoder *d)
{
    return simclr_fail(d->err, "%s: truncated (the data ends before the end-of-image marker)",
                       d->name);
}

/* ------------------------------------------------------------------------------------------
 * Markers and tables
 * ------------------------------------------------------------------------------------------ */

/* Finds the next marker at or after d->position, skipping anything that is not one (stray
 * bytes after a scan's data, fill bytes FF FF, stuffed FF 00) as libjpeg does. Returns the
 * marker's second byte with d->position just past it, or -1 at the end of the data. */
static int next_marker(jpeg_decoder *d)
{
    size_t i = d->position;
    while (i + 1 < d->size) {
        if (d->bytes[i] == 0xFF && d->bytes[i + 1] != 0x00 && d->bytes[i + 1] != 0xFF) {
            d->position = i + 2;
            return d->bytes[i + 1];
        }
        i++;
    }
    d->position = d->size;
    return -1;
}

/* The segment after a marker with a length: its payload starts at *payload and holds *length
 * bytes (the length field excluded); d->position moves past it. */
static int read_segment(jpeg_decoder *d, int marker, const uint8_t **payload, size_t *length)
{
    size_t field;
    if (d->size - d->position < 2)
        return truncated(d);
    field = read_u16(d->bytes + d->position);
    if (field < 2)
        return simclr_fail(d->err, "%s: marker FF %02X has a length of %lu (at least 2)",
                           d->name, (unsigned)marker, (unsigned long)field);
    if (d->size - d->position < field)
        return truncated(d);
    *payload = d->bytes + d->position + 2;
    *length = field - 2;
    d->position += field;
    return SIMCLR_OK;
}

/* DQT: one or more tables, each Pq << 4 | Tq, then 64 values of 8 (Pq 0) or 16 bits (Pq 1). */
static int read_quantisation_tables(jpeg_decoder *d, const uint8_t *p, size_t length)
{
    while (length > 0) {
        const int precision = p[0] >> 4, slot = p[0] & 15;
        const size_t bytes = precision == 0 ? 64 : 128;
        int k;
        if (precision > 1)
            return simclr_fail(d->err, "%s: quantisation table precision %d (0 or 1)", d->name,
                               precision);
        if (slot > 3)
            return simclr_fail(d->err, "%s: quantisation table slot %d (0..3)", d->name, slot);
        if (length - 1 < bytes)
            return simclr_fail(d->err, "%s: a DQT segment is shorter than its tables", d->name);
        for (k = 0; k < 64; k++)
            d->quant[slot][jpeg_natural_order[k]] =
                (uint16_t)(precision == 0 ? p[1 + k] : read_u16(p + 1 + 2 * k));
        d->quant_defined[slot] = 1;
        p += 1 + bytes;
        length -= 1 + bytes;
    }
    return SIMCLR_OK;
}

/* The bit length s of a coefficient and its s bits v as the signed value they code: v when
 * the top bit is set, else v − (2^s − 1). */
static int extend(int32_t v, int s)
{
    return v < (1 << (s - 1)) ? v - ((1 << s) - 1) : v;
}

/* Builds the decoding table from 16 counts and the symbols. Refuses over-subscribed counts
 * and, as libjpeg does, a code made of ones only; DC symbols must be bit lengths 0..15. */
static int huffman_build(jpeg_decoder *d, jpeg_huffman_table *t, const uint8_t *counts,
                         const uint8_t *symbols, int symbol_count, int is_dc)
{
    int32_t code = 0;
    int length, index = 0, i;
    memset(t, 0, sizeof *t);
    for (i = 0; i < symbol_count; i++) {
        if (is_dc && symbols[i] > 15)
            return simclr_fail(d->err, "%s: corrupt Huffman table (DC symbol %d, at most 15)",
                               d->name, symbols[i]);
        t->symbols[i] = symbols[i];
    }
    for (length = 1; length <= 16; length++) {
        const int count = counts[length - 1];
        t->value_offset[length] = index - code;
        if (count > 0 && code + count >= (int32_t)1 << length)
            return simclr_fail(d->err, "%s: corrupt Huffman table (the code lengths "
                                       "over-subscribe the code space)", d->name);
        for (i = 0; i < count; i++, code++, index++) {
            if (length <= JPEG_FAST_BITS) { /* every 9-bit pattern that starts with the code */
                const int shift = JPEG_FAST_BITS - length;
                int fill;
                for (fill = 0; fill < 1 << shift; fill++)
                    t->fast[(code << shift) | fill] = (uint16_t)(length << 8 | symbols[index]);
            }
        }
        t->max_code[length] = count > 0 ? code - 1 : -1;
        code <<= 1;
    }
    if (!is_dc) { /* (run, size) symbols whose value bits fit in the same 9-bit look-up */
        int pattern;
        for (pattern = 0; pattern < 1 << JPEG_FAST_BITS; pattern++) {
            const int entry = t->fast[pattern], code_length = entry >> 8;
            const int run = (entry >> 4) & 15, size = entry & 15;
            if (entry != 0 && size != 0 && code_length + size <= JPEG_FAST_BITS) {
                const int total = code_length + size;
                const int32_t bits = (pattern >> (JPEG_FAST_BITS - total)) & ((1 << size) - 1);
                t->fast_ac_packed[pattern] = (uint8_t)(run << 4 | total);
                t->fast_ac_value[pattern] = (int16_t)extend(bits, size);
            }
        }
    }
    t->defined = 1;
    return SIMCLR_OK;
}

/* DHT: one or more tables, each Tc << 4 | Th, 16 counts, then the symbols. */
static int read_huffman_tables(jpeg_decoder *d, const uint8_t *p, size_t length)
{
    while (length > 0) {
        const int table_class = p[0] >> 4, slot = p[0] & 15;
        int total = 0, i;
        if (table_class > 1 || slot > 3)
            return simclr_fail(d->err, "%s: Huffman table class %d slot %d (class 0..1, slot "
                                       "0..3)", d->name, table_class, slot);
        if (length < 17)
            return simclr_fail(d->err, "%s: a DHT segment is shorter than its tables", d->name);
        for (i = 0; i < 16; i++)
            total += p[1 + i];
        if (total > 256)
            return simclr_fail(d->err, "%s: corrupt Huffman table (%d symbols, at most 256)",
                               d->name, total);
        if (length - 17 < (size_t)total)
            return simclr_fail(d->err, "%s: a DHT segment is shorter than its tables", d->name);
        if (huffman_build(d, table_class == 0 ? &d->dc_tables[slot] : &d->ac_tables[slot], p + 1,
                          p + 17, total, table_class == 0) != SIMCLR_OK)
            return SIMCLR_FAILED;
        p += 17 + total;
        length -= 17 + (size_t)total;
    }
    return SIMCLR_OK;
}

/* SOFn: the frame. The marker's kind is checked first, so that refused files name what they
 * use; then precision 8, a nonzero size, 1 or 3 components with sampling factors 1..4 that
 * divide the largest, and the geometry of blocks and MCUs. Allocates nothing. */
static int read_frame(jpeg_decoder *d, int marker, const uint8_t *p, size_t length)
{
    int i, j;
    if (d->frame_marker != 0)
        return simclr_fail(d->err, "%s: a second frame header (SOF marker)", d->name);
    if (marker == 0xC3)
        return simclr_fail(d->err, "%s: lossless JPEG (SOF3) is not supported", d->name);
    if (marker == 0xC5 || marker == 0xC6 || marker == 0xC7)
        return simclr_fail(d->err, "%s: hierarchical JPEG (SOF%d) is not supported", d->name,
                           marker - 0xC0);
    if (marker >= 0xC9)
        return simclr_fail(d->err, "%s: arithmetic coding (SOF%d) is not supported", d->name,
                           marker - 0xC0);
    if (length < 6)
        return simclr_fail(d->err, "%s: a frame header of %lu bytes", d->name,
                           (unsigned long)length);
    if (p[0] == 12)
        return simclr_fail(d->err, "%s: 12-bit samples are not supported (8-bit only)",
                           d->name);
    if (p[0] != 8)
        return simclr_fail(d->err, "%s: sample precision %d bits (8 is read)", d->name, p[0]);
    d->height = read_u16(p + 1);
    d->width = read_u16(p + 3);
    d->component_count = p[5];
    if (d->height == 0)
        return simclr_fail(d->err, "%s: height 0 (a height given later by a DNL marker is not "
                                   "supported)", d->name);
    if (d->width == 0)
        return simclr_fail(d->err, "%s: width 0", d->name);
    if (d->component_count == 4)
        return simclr_fail(d->err, "%s: 4 components (CMYK or YCCK) are not supported", d->name);
    if (d->component_count == 2)
        return simclr_fail(d->err, "%s: 2 components are not supported", d->name);
    if (d->component_count != 1 && d->component_count != 3)
        return simclr_fail(d->err, "%s: %d components (1 or 3 are read)", d->name,
                           d->component_count);
    if (length != 6 + 3 * (size_t)d->component_count)
        return simclr_fail(d->err, "%s: the frame header's length does not match its %d "
                                   "components", d->name, d->component_count);
    d->h_max = d->v_max = 1;
    for (i = 0; i < d->component_count; i++) {
        jpeg_component *c = &d->components[i];
        const uint8_t *q = p + 6 + 3 * i;
        c->id = q[0];
        c->h = q[1] >> 4;
        c->v = q[1] & 15;
        c->quant_slot = q[2];
        if (c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4)
            return simclr_fail(d->err, "%s: sampling factors %dx%d (1..4 each)", d->name, c->h,
                               c->v);
        if (c->quant_slot > 3)
            return simclr_fail(d->err, "%s: quantisation table slot %d (0..3)", d->name,
                               c->quant_slot);
        for (j = 0; j < i; j++)
            if (d->components[j].id == c->id)
                return simclr_fail(d->err, "%s: two components have the id %d", d->name, c->id);
        d->h_max = c->h > d->h_max ? c->h : d->h_max;
        d->v_max = c->v > d->v_max ? c->v : d->v_max;
    }
    d->mcus_wide = (d->width + 8 * (size_t)d->h_max - 1) / (8 * (size_t)d->h_max);
    d->mcus_high = (d->height + 8 * (size_t)d->v_max - 1) / (8 * (size_t)d->v_max);
    for (i = 0; i < d->component_count; i++) {
        jpeg_component *c = &d->components[i];
        if (d->h_max % c->h != 0 || d->v_max % c->v != 0)
            return simclr_fail(d->err, "%s: sampling factors %dx%d do not divide the largest, "
                                       "%dx%d", d->name, c->h, c->v, d->h_max, d->v_max);
        c->h_ratio = d->h_max / c->h;
        c->v_ratio = d->v_max / c->v;
        c->width = (d->width * (size_t)c->h + (size_t)d->h_max - 1) / (size_t)d->h_max;
        c->height = (d->height * (size_t)c->v + (size_t)d->v_max - 1) / (size_t)d->v_max;
        c->blocks_wide = (c->width + 7) / 8;
        c->blocks_high = (c->height + 7) / 8;
        c->stride = 8 * c->blocks_wide;
        memset(c->coefficient_bits, -1, sizeof c->coefficient_bits);
    }
    d->frame_marker = marker;
    d->progressive = marker == 0xC2;
    return SIMCLR_OK;
}

/* APP0 "JFIF\0" (at least 14 bytes) and APP14 "Adobe" (at least 12 bytes, the transform flag
 * last) decide the colour space of 3-component images, as libjpeg reads them. */
static void read_app_segment(jpeg_decoder *d, int marker, const uint8_t *p, size_t length)
{
    if (marker == 0xE0 && length >= 14 && memcmp(p, "JFIF", 5) == 0)
        d->saw_jfif = 1;
    if (marker == 0xEE && length >= 12 && memcmp(p, "Adobe", 5) == 0) {
        d->saw_adobe = 1;
        d->adobe_transform = p[11];
    }
}

/* ------------------------------------------------------------------------------------------
 * Entropy-coded data: bits, Huffman symbols
 * ------------------------------------------------------------------------------------------ */

/* Loads bytes until at least 57 bits are held: a data byte FF arrives as FF 00 (with any number
 * of fill bytes FF before the 00); any other FF xx is a marker, where loading stops. */
static void bits_refill_bytewise(jpeg_bits *b)
{
    while (b->count <= 56) {
        uint64_t byte = 0;
        if (b->at_marker || b->position >= b->size) {
            b->padding += 8;
        } else if (b->bytes[b->position] != 0xFF) {
            byte = b->bytes[b->position++];
        } else {
            size_t next = b->position + 1;
            while (next < b->size && b->bytes[next] == 0xFF)
                next++;
            if (next >= b->size) {        /* the data ends inside fill bytes */
                b->position = b->size;
                b->padding += 8;
            } else if (b->bytes[next] == 0x00) {
                byte = 0xFF;
                b->position = next + 1;
            } else {                      /* a marker: leave it for the marker reader */
                b->position = next - 1;
                b->at_marker = 1;
                b->padding += 8;
            }
        }
        b->buffer |= byte << (56 - b->count);
        b->count += 8;
    }
}

/* bits_refill_bytewise, with a shortcut for the usual case: when the next 8 bytes hold no
 * FF, as many of them as fit are loaded at once. */
static void bits_refill(jpeg_bits *b)
{
    if (!b->at_marker && b->size - b->position >= 8) {
        const uint8_t *p = b->bytes + b->position;
        const uint64_t next = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
                              (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
                              (uint64_t)p[6] << 8 | p[7];
        const uint64_t inverted = ~next, ones = 0x0101010101010101u;
        if (((inverted - ones) & ~inverted & (ones << 7)) == 0) { /* no byte of next is FF */
            const int n = (64 - b->count) / 8;                  /* whole bytes that fit */
            if (n > 0) {
                b->buffer |= next >> (64 - 8 * n) << (64 - 8 * n - b->count);
                b->count += 8 * n;
                b->position += (size_t)n;
            }
            return;
        }
    }
    bits_refill_bytewise(b);
}

static void bits_start(jpeg_bits *b, const uint8_t *bytes, size_t size, size_t position)
{
    b->bytes = bytes;
    b->size = size;
    b->position = position;
    b->buffer = 0;
    b->count = b->padding = b->at_marker = 0;
}

static void bits_skip(jpeg_bits *b, int n)
{
    b->buffer <<= n;
    b->count -= n;
}

/* The next n bits (0..16) as a number; the caller made sure that they are loaded. */
static int32_t bits_take(jpeg_bits *b, int n)
{
    int32_t value;
    if (n == 0)
        return 0;
    value = (int32_t)(b->buffer >> (64 - n));
    bits_skip(b, n);
    return value;
}

/* The next symbol (0..255), or JPEG_NO_CODE. Needs 16 bits loaded. */
static int huffman_decode(jpeg_bits *b, const jpeg_huffman_table *t)
{
    const int entry = t->fast[b->buffer >> (64 - JPEG_FAST_BITS)];
    int32_t code;
    int length;
    if (entry != 0) {
        bits_skip(b, entry >> 8);
        return entry & 0xFF;
    }
    code = (int32_t)(b->buffer >> (64 - 16));
    for (length = JPEG_FAST_BITS + 1; length <= 16; length++) {
        const int32_t prefix = code >> (16 - length);
        if (prefix <= t->max_code[length]) {
            bits_skip(b, length);
            return t->symbols[prefix + t->value_offset[length]];
        }
    }
    return JPEG_NO_CODE;
}

/* After an error in the entropy-coded data: was it because the data ran out (then the file is
 * truncated and that is the message) or because it is corrupt? */
static int scan_error(jpeg_decoder *d, const char *problem)
{
    const jpeg_bits *b = &d->bits;
    if (b->count < b->padding && !b->at_marker)
        return simclr_fail(d->err, "%s: truncated (the data ends inside a scan)", d->name);
    if (b->count < b->padding)
        return simclr_fail(d->err, "%s: corrupt data (a scan's data stops early at marker FF "
                                   "%02X)", d->name, (unsigned)d->bytes[b->position + 1]);
    return simclr_fail(d->err, "%s: corrupt data (%s)", d->name, problem);
}

/* ------------------------------------------------------------------------------------------
 * The inverse DCT
 * ------------------------------------------------------------------------------------------ */

/* The 13-bit constants: round(c · 2^13). */
#define IDCT_CONST_BITS 13
#define IDCT_PASS1_BITS 2
#define FIX_0_298631336 2446
#define FIX_0_390180644 3196
#define FIX_0_541196100 4433
#define FIX_0_765366865 6270
#define FIX_0_899976223 7373
#define FIX_1_175875602 9633
#define FIX_1_501321110 12299
#define FIX_1_847759065 15137
#define FIX_1_961570560 16069
#define FIX_2_053119869 16819
#define FIX_2_562915447 20995
#define FIX_3_072711026 25172

/* One 8-point inverse DCT (the LL&M flow graph: an even part from inputs 0, 2, 4, 6 with one
 * rotation, an odd part from 1, 3, 5, 7 with the rotations folded into 12 multiplications),
 * out = 2^13 × the transform of in (before the caller's rounding shift). */
static void idct_1d(int64_t *out, /* (8) */ const int64_t *in /* (8) */)
{
    int64_t z1, z2, z3, z4, z5, tmp0, tmp1, tmp2, tmp3, tmp10, tmp11, tmp12, tmp13;
    int64_t odd0, odd1, odd2, odd3;
    /* even part */
    z2 = in[2];
    z3 = in[6];
    z1 = (z2 + z3) * FIX_0_541196100;
    tmp2 = z1 - z3 * FIX_1_847759065;
    tmp3 = z1 + z2 * FIX_0_765366865;
    tmp0 = (in[0] + in[4]) * (1 << IDCT_CONST_BITS);
    tmp1 = (in[0] - in[4]) * (1 << IDCT_CONST_BITS);
    tmp10 = tmp0 + tmp3;
    tmp13 = tmp0 - tmp3;
    tmp11 = tmp1 + tmp2;
    tmp12 = tmp1 - tmp2;
    /* odd part: in[7], in[5], in[3], in[1] */
    odd0 = in[7];
    odd1 = in[5];
    odd2 = in[3];
    odd3 = in[1];
    z1 = odd0 + odd3;
    z2 = odd1 + odd2;
    z3 = odd0 + odd2;
    z4 = odd1 + odd3;
    z5 = (z3 + z4) * FIX_1_175875602;
    odd0 *= FIX_0_298631336;
    odd1 *= FIX_2_053119869;
    odd2 *= FIX_3_072711026;
    odd3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    odd0 += z1 + z3;
    odd1 += z2 + z4;
    odd2 += z2 + z3;
    odd3 += z1 + z4;
    out[0] = tmp10 + odd3;
    out[7] = tmp10 - odd3;
    out[1] = tmp11 + odd2;
    out[6] = tmp11 - odd2;
    out[2] = tmp12 + odd1;
    out[5] = tmp12 - odd1;
    out[3] = tmp13 + odd0;
    out[4] = tmp13 - odd0;
}

/* Dequantises a block and transforms it into 8×8 samples: columns first, rounded to keep
 * IDCT_PASS1_BITS extra bits, then rows, rounded to integers, +128 and clamped. A column or a
 * row whose inputs beyond the first are all zero has a constant result, taken directly (it
 * equals what the full transform gives). The reference: exact for any coefficients, in 64
 * bits; idct_block is the fast path. */
static void idct_block_reference(uint8_t *out, size_t stride, /* (8, stride) */
                       const int16_t *block,        /* (64) natural order */
                       const uint16_t *quant,       /* (64) natural order */
                       int has_ac)
{
    int64_t workspace[64], in[8], result[8];
    int row, column, k;
    if (!has_ac) { /* only the DC coefficient: a flat block */
        const int64_t dc = (int64_t)block[0] * quant[0] * (1 << IDCT_PASS1_BITS);
        const uint8_t value =
            clamp_to_byte(shift_right_floor(dc + (1 << (IDCT_PASS1_BITS + 2)),
                                            IDCT_PASS1_BITS + 3) + 128);
        for (row = 0; row < 8; row++)
            memset(out + (size_t)row * stride, value, 8);
        return;
    }
    for (column = 0; column < 8; column++) {
        int zero = 1;
        for (k = 1; k < 8; k++)
            zero &= block[8 * k + column] == 0;
        if (zero) {
            const int64_t dc = (int64_t)block[column] * quant[column] * (1 << IDCT_PASS1_BITS);
            for (k = 0; k < 8; k++)
                workspace[8 * k + column] = dc;
            continue;
        }
        for (k = 0; k < 8; k++)
            in[k] = (int64_t)block[8 * k + column] * quant[8 * k + column];
        idct_1d(result, in);
        for (k = 0; k < 8; k++)
            workspace[8 * k + column] =
                shift_right_floor(result[k] + (1 << (IDCT_CONST_BITS - IDCT_PASS1_BITS - 1)),
                                  IDCT_CONST_BITS - IDCT_PASS1_BITS);
    }
    for (row = 0; row < 8; row++) {
        const int64_t *w = workspace + 8 * row;
        uint8_t *o = out + (size_t)row * stride;
        if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 &&
            w[7] == 0) {
            const uint8_t value = clamp_to_byte(
                shift_right_floor(w[0] + (1 << (IDCT_PASS1_BITS + 2)), IDCT_PASS1_BITS + 3) +
                128);
            memset(o, value, 8);
            continue;
        }
        idct_1d(result, w);
        for (k = 0; k < 8; k++)
            o[k] = clamp_to_byte(
                shift_right_floor(result[k] + ((int64_t)1 << (IDCT_CONST_BITS + IDCT_PASS1_BITS + 2)),
                                  IDCT_CONST_BITS + IDCT_PASS1_BITS + 3) + 128);
    }
}

/* ⌊x / 2^n⌋ in 32 bits (as shift_right_floor). */
static int32_t shift_right_floor_32(int32_t x, int n)
{
    return x >= 0 ? x >> n : -1 - ((-1 - x) >> n);
}

static uint8_t clamp_int_to_byte(int32_t x)
{
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

/* idct_1d in 32 bits, on in[0], in[step], …, in[7 · step] into out[0], out[step], …: the
 * column pass calls it on each of a block's 8 columns in one loop (step 8), which compilers
 * turn into vector code across the columns. Exact while every intermediate value fits: each is
 * a sum of the 8 inputs times constant factors whose absolute values add up to 61214 at most
 * (computed from the constants), so inputs below 2^15 in magnitude keep every value below
 * 61214 · 2^15 + 2^17 < 2^31. */
static inline void idct_1d_32(int32_t *out, const int32_t *in, int step)
{
    int32_t z1, z2, z3, z4, z5, tmp0, tmp1, tmp2, tmp3, tmp10, tmp11, tmp12, tmp13;
    int32_t odd0, odd1, odd2, odd3;
    /* even part */
    z2 = in[2 * step];
    z3 = in[6 * step];
    z1 = (z2 + z3) * FIX_0_541196100;
    tmp2 = z1 - z3 * FIX_1_847759065;
    tmp3 = z1 + z2 * FIX_0_765366865;
    tmp0 = (in[0] + in[4 * step]) * (1 << IDCT_CONST_BITS);
    tmp1 = (in[0] - in[4 * step]) * (1 << IDCT_CONST_BITS);
    tmp10 = tmp0 + tmp3;
    tmp13 = tmp0 - tmp3;
    tmp11 = tmp1 + tmp2;
    tmp12 = tmp1 - tmp2;
    /* odd part: in[7], in[5], in[3], in[1] */
    odd0 = in[7 * step];
    odd1 = in[5 * step];
    odd2 = in[3 * step];
    odd3 = in[step];
    z1 = odd0 + odd3;
    z2 = odd1 + odd2;
    z3 = odd0 + odd2;
    z4 = odd1 + odd3;
    z5 = (z3 + z4) * FIX_1_175875602;
    odd0 *= FIX_0_298631336;
    odd1 *= FIX_2_053119869;
    odd2 *= FIX_3_072711026;
    odd3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    odd0 += z1 + z3;
    odd1 += z2 + z4;
    odd2 += z2 + z3;
    odd3 += z1 + z4;
    out[0] = tmp10 + odd3;
    out[7 * step] = tmp10 - odd3;
    out[step] = tmp11 + odd2;
    out[6 * step] = tmp11 - odd2;
    out[2 * step] = tmp12 + odd1;
    out[5 * step] = tmp12 - odd1;
    out[3 * step] = tmp13 + odd0;
    out[4 * step] = tmp13 - odd0;
}

/* The largest magnitude of 64 values. */
static int32_t largest_magnitude(const int32_t *values /* (64) */)
{
    int32_t largest = 0;
    int k;
    for (k = 0; k < 64; k++) {
        const int32_t magnitude = values[k] < 0 ? -values[k] : values[k];
        largest = magnitude > largest ? magnitude : largest;
    }
    return largest;
}

/* idct_block_reference's result, fast: the same two passes in 32 bits, without the shortcuts
 * for zero columns and rows (the column pass runs on all 8 columns at once). A dequantised
 * coefficient fits in 32 bits (|int16 · uint16| < 2^31); when one is 2^15 or more, or the
 * column pass gives one of 2^15 or more (no encoder makes such blocks), the block goes to the
 * reference instead, as does a block of a DC coefficient alone. A SIMCLR_REFERENCE build
 * (`make REFERENCE=1`) sends every block to the reference. */
static void idct_block(uint8_t *out, size_t stride, /* (8, stride) */
                       const int16_t *block,        /* (64) natural order */
                       const uint16_t *quant,       /* (64) natural order */
                       int has_ac)
{
    int32_t in[64], columns[64], workspace[64], rows[64];
    uint8_t samples[64];
    int k, column, row;
#if SIMCLR_REFERENCE
    idct_block_reference(out, stride, block, quant, has_ac);
    return;
#endif
    if (!has_ac) {
        idct_block_reference(out, stride, block, quant, has_ac);
        return;
    }
    for (k = 0; k < 64; k++)
        in[k] = block[k] * (int32_t)quant[k];
    if (largest_magnitude(in) >= 1 << 15) {
        idct_block_reference(out, stride, block, quant, has_ac);
        return;
    }
    for (column = 0; column < 8; column++)
        idct_1d_32(columns + column, in + column, 8);
    for (k = 0; k < 64; k++)
        workspace[k] = shift_right_floor_32(
            columns[k] + (1 << (IDCT_CONST_BITS - IDCT_PASS1_BITS - 1)),
            IDCT_CONST_BITS - IDCT_PASS1_BITS);
    if (largest_magnitude(workspace) >= 1 << 15) {
        idct_block_reference(out, stride, block, quant, has_ac);
        return;
    }
    for (row = 0; row < 8; row++)
        idct_1d_32(rows + 8 * row, workspace + 8 * row, 1);
    for (k = 0; k < 64; k++)
        samples[k] = clamp_int_to_byte(
            shift_right_floor_32(rows[k] + (1 << (IDCT_CONST_BITS + IDCT_PASS1_BITS + 2)),
                                 IDCT_CONST_BITS + IDCT_PASS1_BITS + 3) + 128);
    for (row = 0; row < 8; row++)
        memcpy(out + (size_t)row * stride, samples + 8 * row, 8);
}

/* ------------------------------------------------------------------------------------------
 * Decoding blocks
 * ------------------------------------------------------------------------------------------ */

/* A coefficient must fit in 16 bits with room for refinement: |value| <= 32767. */
static int coefficient_fits(int64_t value) { return value >= -32767 && value <= 32767; }

/* The DC difference of a block: a bit length from the DC table, then that many bits. */
static int decode_dc(jpeg_decoder *d, jpeg_component *c, int shift, int16_t *coefficient)
{
    jpeg_bits *b = &d->bits;
    int s, value;
    if (b->count < 32)
        bits_refill(b);
    s = huffman_decode(b, &d->dc_tables[c->dc_slot]);
    if (s == JPEG_NO_CODE)
        return scan_error(d, "a DC code matches no Huffman table entry");
    value = c->dc_predictor + (s == 0 ? 0 : extend(bits_take(b, s), s));
    if (!coefficient_fits((int64_t)value * (1 << shift)))
        return scan_error(d, "a DC coefficient beyond 16 bits");
    c->dc_predictor = value;
    *coefficient = (int16_t)(value * (1 << shift));
    return SIMCLR_OK;
}

/* A whole block of a sequential scan into `block` (zeroed by the caller); *has_ac tells
 * whether any AC coefficient is nonzero. */
static int decode_block_sequential(jpeg_decoder *d, jpeg_component *c,
                                   int16_t *block, /* (64) natural order */
                                   int *has_ac)
{
    const jpeg_huffman_table *ac = &d->ac_tables[c->ac_slot];
    jpeg_bits *b = &d->bits;
    int k;
    int nonzero = 0; /* any AC coefficient so far */
    if (decode_dc(d, c, 0, &block[0]) != SIMCLR_OK)
        return SIMCLR_FAILED;
    for (k = 1; k < 64; k++) {
        int symbol, run, size, packed;
        if (b->count < 32)
            bits_refill(b);
        packed = ac->fast_ac_packed[b->buffer >> (64 - JPEG_FAST_BITS)];
        if (packed != 0) { /* code and value in one look-up */
            const int value = ac->fast_ac_value[b->buffer >> (64 - JPEG_FAST_BITS)];
            bits_skip(b, packed & 15);
            k += packed >> 4;
            if (k > 63)
                return scan_error(d, "an AC coefficient index beyond 63");
            block[jpeg_natural_order[k]] = (int16_t)value;
            nonzero = 1;
            continue;
        }
        symbol = huffman_decode(b, ac);
        if (symbol == JPEG_NO_CODE)
            return scan_error(d, "an AC code matches no Huffman table entry");
        run = symbol >> 4;
        size = symbol & 15;
        if (size == 0) {
            if (run != 15)
                break;  /* end of block */
            k += 15;    /* sixteen zeros */
            continue;
        }
        k += run;
        if (k > 63)
            return scan_error(d, "an AC coefficient index beyond 63");
        block[jpeg_natural_order[k]] = (int16_t)extend(bits_take(b, size), size);
        nonzero = 1;
    }
    *has_ac = nonzero;
    return SIMCLR_OK;
}

/* Progressive DC: the first scan sends the difference >> Al, each refinement one bit. */
static int decode_dc_progressive(jpeg_decoder *d, jpeg_component *c, int16_t *block)
{
    jpeg_bits *b = &d->bits;
    if (d->approximation_high == 0)
        return decode_dc(d, c, d->approximation_low, &block[0]);
    if (b->count < 32)
        bits_refill(b);
    if (bits_take(b, 1))
        block[0] = (int16_t)(block[0] + (1 << d->approximation_low));
    return SIMCLR_OK;
}

/* Progressive AC, first scan of a band: like a sequential block restricted to Ss..Se and
 * scaled by 2^Al, with end-of-band runs (EOBRUN) that skip whole blocks. */
static int decode_ac_first(jpeg_decoder *d, jpeg_component *c, int16_t *block)
{
    const jpeg_huffman_table *ac = &d->ac_tables[c->ac_slot];
    jpeg_bits *b = &d->bits;
    const int end = d->spectral_end, shift = d->approximation_low;
    int k;
    if (d->eob_run > 0) {
        d->eob_run--;
        return SIMCLR_OK;
    }
    for (k = d->spectral_start; k <= end; k++) {
        int symbol, run, size, value;
        if (b->count < 32)
            bits_refill(b);
        symbol = huffman_decode(b, ac);
        if (symbol == JPEG_NO_CODE)
            return scan_error(d, "an AC code matches no Huffman table entry");
        run = symbol >> 4;
        size = symbol & 15;
        if (size == 0) {
            if (run < 15) { /* an end-of-band run of 2^run + (run more bits) blocks */
                d->eob_run = ((unsigned)1 << run) + (unsigned)bits_take(b, run) - 1;
                break;
            }
            k += 15;
            continue;
        }
        k += run;
        if (k > end)
            return scan_error(d, "an AC coefficient index beyond the scan's band");
        value = extend(bits_take(b, size), size);
        if (!coefficient_fits((int64_t)value * (1 << shift)))
            return scan_error(d, "an AC coefficient beyond 16 bits");
        block[jpeg_natural_order[k]] = (int16_t)(value * (1 << shift));
    }
    return SIMCLR_OK;
}

/* One refinement bit for a coefficient already nonzero: when set, the magnitude grows by
 * 2^Al (the bit is below the bits sent so far, so it is 0 before). */
static void refine_nonzero(jpeg_bits *b, int16_t *coefficient, int bit_value)
{
    const int magnitude = *coefficient < 0 ? -*coefficient : *coefficient;
    if (bits_take(b, 1) && (magnitude & bit_value) == 0)
        *coefficient = (int16_t)(*coefficient + (*coefficient >= 0 ? bit_value : -bit_value));
}

/* Progressive AC refinement: a symbol gives a run of still-zero coefficients to pass and at
 * most one new coefficient of magnitude 2^Al (sign bit after the symbol); every nonzero
 * coefficient passed on the way gets a refinement bit. Inside an end-of-band run, only the
 * refinement bits of the nonzero coefficients come. */
static int decode_ac_refine(jpeg_decoder *d, jpeg_component *c, int16_t *block)
{
    const jpeg_huffman_table *ac = &d->ac_tables[c->ac_slot];
    jpeg_bits *b = &d->bits;
    const int end = d->spectral_end, bit_value = 1 << d->approximation_low;
    int k = d->spectral_start;
    if (d->eob_run == 0) {
        for (; k <= end; k++) {
            int symbol, run, size, new_value = 0;
            if (b->count < 32)
                bits_refill(b);
            symbol = huffman_decode(b, ac);
            if (symbol == JPEG_NO_CODE)
                return scan_error(d, "an AC code matches no Huffman table entry");
            run = symbol >> 4;
            size = symbol & 15;
            if (size != 0) {
                if (size != 1)
                    return scan_error(d, "a refinement coefficient of more than one bit");
                new_value = bits_take(b, 1) ? bit_value : -bit_value;
            } else if (run != 15) {
                d->eob_run = ((unsigned)1 << run) + (unsigned)bits_take(b, run);
                break;
            }
            /* pass `run` zero coefficients (refining the nonzero ones on the way) */
            for (; k <= end; k++) {
                int16_t *coefficient = &block[jpeg_natural_order[k]];
                if (b->count < 32)
                    bits_refill(b);
                if (*coefficient != 0)
                    refine_nonzero(b, coefficient, bit_value);
                else if (run-- == 0)
                    break;
            }
            if (new_value != 0) {
                if (k > end)
                    return scan_error(d, "an AC coefficient index beyond the scan's band");
                block[jpeg_natural_order[k]] = (int16_t)new_value;
            }
        }
    }
    if (d->eob_run > 0) {
        for (; k <= end; k++) {
            int16_t *coefficient = &block[jpeg_natural_order[k]];
            if (b->count < 32)
                bits_refill(b);
            if (*coefficient != 0)
                refine_nonzero(b, coefficient, bit_value);
        }
        d->eob_run--;
    }
    return SIMCLR_OK;
}

/* One block of the current scan at block (row, column) of component c: sequential blocks go
 * through the inverse DCT into the plane, progressive ones into the coefficient array. Dummy
 * blocks (outside the component's samples, in the right and bottom MCUs) are decoded and
 * dropped. */
static int decode_block(jpeg_decoder *d, jpeg_component *c, size_t row, size_t column)
{
    const int inside = row < c->blocks_high && column < c->blocks_wide;
    if (!d->progressive) {
        int16_t block[64];
        int has_ac = 0;
        memset(block, 0, sizeof block);
        if (decode_block_sequential(d, c, block, &has_ac) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (inside)
            idct_block(component_row(c, 8 * row) + 8 * column, c->stride, block, c->quant,
                       has_ac);
        return SIMCLR_OK;
    } else {
        int16_t dummy[64];
        int16_t *block = dummy;
        if (inside)
            block = c->coefficients + 64 * (row * c->blocks_wide + column);
        else
            memset(dummy, 0, sizeof dummy);
        if (d->spectral_start == 0)
            return decode_dc_progressive(d, c, block);
        if (d->approximation_high == 0)
            return decode_ac_first(d, c, block);
        return decode_ac_refine(d, c, block);
    }
}

/* Between restart intervals: the rest of the current byte is dropped, the marker RSTn
 * (n = the interval's number mod 8) must come next, and the DC predictions and the EOB run
 * start again. */
static int read_restart_marker(jpeg_decoder *d, unsigned expected)
{
    int marker;
    d->position = d->bits.position;
    marker = next_marker(d);
    if (marker < 0)
        return simclr_fail(d->err, "%s: truncated (the data ends inside a scan)", d->name);
    if (marker != (int)(0xD0 + expected))
        return simclr_fail(d->err, "%s: corrupt data (marker FF %02X where the restart marker "
                                   "RST%u was due)", d->name, (unsigned)marker, expected);
    bits_start(&d->bits, d->bytes, d->size, d->position);
    return SIMCLR_OK;
}

static void write_ready_rows(jpeg_decoder *d);

/* The entropy-coded data of the current scan, from d->position on: every MCU, with the
 * restart markers; afterwards d->position is where the next marker is looked for. Streaming,
 * the rows of pixels are written as the MCU rows that they need complete. */
static int decode_scan(jpeg_decoder *d)
{
    size_t mcus_wide = d->mcus_wide, mcus_high = d->mcus_high, mcu_row, mcu_column;
    unsigned long mcu_index = 0;
    unsigned restart_number = 0;
    int i;
    if (d->scan_count == 1) { /* one block per MCU, over the component's own blocks */
        mcus_wide = d->scan[0]->blocks_wide;
        mcus_high = d->scan[0]->blocks_high;
    }
    for (i = 0; i < d->scan_count; i++)
        d->scan[i]->dc_predictor = 0;
    d->eob_run = 0;
    bits_start(&d->bits, d->bytes, d->size, d->position);
    for (mcu_row = 0; mcu_row < mcus_high; mcu_row++) {
        for (mcu_column = 0; mcu_column < mcus_wide; mcu_column++, mcu_index++) {
            if (d->restart_interval != 0 && mcu_index > 0 &&
                mcu_index % d->restart_interval == 0) {
                if (read_restart_marker(d, restart_number) != SIMCLR_OK)
                    return SIMCLR_FAILED;
                restart_number = (restart_number + 1) & 7;
                for (i = 0; i < d->scan_count; i++)
                    d->scan[i]->dc_predictor = 0;
                d->eob_run = 0;
            }
            if (d->scan_count == 1) {
                if (decode_block(d, d->scan[0], mcu_row, mcu_column) != SIMCLR_OK)
                    return SIMCLR_FAILED;
            } else {
                for (i = 0; i < d->scan_count; i++) {
                    jpeg_component *c = d->scan[i];
                    int y, x;
                    for (y = 0; y < c->v; y++)
                        for (x = 0; x < c->h; x++)
                            if (decode_block(d, c, mcu_row * (size_t)c->v + (size_t)y,
                                             mcu_column * (size_t)c->h + (size_t)x) != SIMCLR_OK)
                                return SIMCLR_FAILED;
                }
            }
            if (d->bits.count < d->bits.padding) /* the MCU read past the data */
                return scan_error(d, "");
        }
        if (d->streaming) {
            for (i = 0; i < d->scan_count; i++)
                d->scan[i]->rows_decoded = (mcu_row + 1) * d->scan[i]->strip_rows;
            write_ready_rows(d);
        }
    }
    d->position = d->bits.position;
    return SIMCLR_OK;
}

/* ------------------------------------------------------------------------------------------
 * Scan headers
 * ------------------------------------------------------------------------------------------ */

/* Sequential scans: the whole band at full precision, each component in one scan only.
 * Progressive: a DC scan (Ss = Se = 0, any components) or an AC band of one component
 * (1 <= Ss <= Se <= 63); Al <= 13; a refinement (Ah > 0) must have Al = Ah − 1 and follow a
 * scan that sent the same coefficients down to bit Ah; the DC must come before any AC. */
static int check_scan(jpeg_decoder *d)
{
    const int ss = d->spectral_start, se = d->spectral_end;
    const int ah = d->approximation_high, al = d->approximation_low;
    int i, k, blocks = 0;
    if (!d->progressive) {
        if (ss != 0 || se != 63 || ah != 0 || al != 0)
            return simclr_fail(d->err, "%s: a sequential scan with Ss=%d Se=%d Ah=%d Al=%d "
                                       "(0, 63, 0, 0)", d->name, ss, se, ah, al);
        for (i = 0; i < d->scan_count; i++) {
            if (d->scan[i]->scanned)
                return simclr_fail(d->err, "%s: component %d appears in two sequential scans",
                                   d->name, d->scan[i]->id);
            d->scan[i]->scanned = 1;
        }
    } else {
        if (ss == 0 ? se != 0 : (se < ss || se > 63 || d->scan_count != 1))
            return simclr_fail(d->err, "%s: a progressive scan with Ss=%d Se=%d over %d "
                                       "components", d->name, ss, se, d->scan_count);
        if (al > 13 || (ah != 0 && al != ah - 1))
            return simclr_fail(d->err, "%s: successive approximation Ah=%d Al=%d", d->name, ah,
                               al);
        for (i = 0; i < d->scan_count; i++) {
            jpeg_component *c = d->scan[i];
            if (ss > 0 && c->coefficient_bits[0] < 0)
                return simclr_fail(d->err, "%s: an AC scan of component %d before its DC scan",
                                   d->name, c->id);
            for (k = ss; k <= se; k++) {
                if (ah == 0 ? c->coefficient_bits[k] >= 0 : c->coefficient_bits[k] != ah)
                    return simclr_fail(d->err, "%s: a progressive scan of component %d "
                                               "(coefficients %d..%d, Ah=%d) out of order",
                                       d->name, c->id, ss, se, ah);
                c->coefficient_bits[k] = (signed char)al;
            }
        }
    }
    for (i = 0; i < d->scan_count; i++) {
        jpeg_component *c = d->scan[i];
        const int needs_dc = ss == 0 && !(d->progressive && ah != 0), needs_ac = se > 0;
        if ((needs_dc && !d->dc_tables[c->dc_slot].defined) ||
            (needs_ac && !d->ac_tables[c->ac_slot].defined))
            return simclr_fail(d->err, "%s: a scan uses the undefined Huffman table %s%d",
                               d->name, needs_dc && !d->dc_tables[c->dc_slot].defined ? "DC" : "AC",
                               needs_dc && !d->dc_tables[c->dc_slot].defined ? c->dc_slot
                                                                             : c->ac_slot);
        if (!c->quant_latched) { /* the table in force when the component is first seen */
            if (!d->quant_defined[c->quant_slot])
                return simclr_fail(d->err, "%s: component %d uses the undefined quantisation "
                                           "table %d", d->name, c->id, c->quant_slot);
            memcpy(c->quant, d->quant[c->quant_slot], sizeof c->quant);
            c->quant_latched = 1;
        }
        blocks += c->h * c->v;
    }
    if (d->scan_count > 1 && blocks > JPEG_MAX_BLOCKS_IN_MCU)
        return simclr_fail(d->err, "%s: %d blocks in an MCU (at most %d)", d->name, blocks,
                           JPEG_MAX_BLOCKS_IN_MCU);
    return SIMCLR_OK;
}

/* SOS: Ns, then per component its id and Td << 4 | Ta, then Ss, Se, Ah << 4 | Al. */
static int read_scan_header(jpeg_decoder *d, const uint8_t *p, size_t length)
{
    int i, j;
    if (d->frame_marker == 0)
        return simclr_fail(d->err, "%s: a scan (SOS marker) before the frame header", d->name);
    if (length < 1 || p[0] < 1 || p[0] > d->component_count || length != 4 + 2 * (size_t)p[0])
        return simclr_fail(d->err, "%s: a scan header of %lu bytes for %d components", d->name,
                           (unsigned long)length, length < 1 ? 0 : p[0]);
    d->scan_count = p[0];
    for (i = 0; i < d->scan_count; i++) {
        const int id = p[1 + 2 * i], dc_slot = p[2 + 2 * i] >> 4, ac_slot = p[2 + 2 * i] & 15;
        jpeg_component *c = NULL;
        for (j = 0; j < d->component_count; j++)
            if (d->components[j].id == id)
                c = &d->components[j];
        if (c == NULL)
            return simclr_fail(d->err, "%s: a scan names component %d, not in the frame",
                               d->name, id);
        for (j = 0; j < i; j++)
            if (d->scan[j] == c)
                return simclr_fail(d->err, "%s: a scan names component %d twice", d->name, id);
        if (dc_slot > 3 || ac_slot > 3)
            return simclr_fail(d->err, "%s: Huffman table slots %d, %d (0..3)", d->name,
                               dc_slot, ac_slot);
        c->dc_slot = dc_slot;
        c->ac_slot = ac_slot;
        d->scan[i] = c;
    }
    d->spectral_start = p[1 + 2 * d->scan_count];
    d->spectral_end = p[2 + 2 * d->scan_count];
    d->approximation_high = p[3 + 2 * d->scan_count] >> 4;
    d->approximation_low = p[3 + 2 * d->scan_count] & 15;
    return check_scan(d);
}

/* ------------------------------------------------------------------------------------------
 * Upsampling and colour conversion, one output row at a time
 * ------------------------------------------------------------------------------------------ */

/* Component c's samples for output row y, upsampled to at least the image width: a row of the
 * plane itself, or one made in `row` (h_ratio · width samples); `sums` is scratch for the
 * 2×2 filter (width sums). */
static const uint8_t *upsample_row(const jpeg_component *c, size_t y, uint8_t *row,
                                   uint16_t *sums)
{
    const size_t w = c->width;
    size_t x;
    if (c->h_ratio == 1 && c->v_ratio == 1)
        return component_row(c, y);
    if (c->h_ratio == 2 && c->v_ratio == 1 && w > 2) { /* 4:2:2: triangle filter across */
        const uint8_t *in = component_row(c, y);
        row[0] = in[0];
        row[1] = (uint8_t)((3 * in[0] + in[1] + 2) >> 2);
        for (x = 1; x + 1 < w; x++) {
            row[2 * x] = (uint8_t)((3 * in[x] + in[x - 1] + 1) >> 2);
            row[2 * x + 1] = (uint8_t)((3 * in[x] + in[x + 1] + 2) >> 2);
        }
        row[2 * w - 2] = (uint8_t)((3 * in[w - 1] + in[w - 2] + 1) >> 2);
        row[2 * w - 1] = in[w - 1];
        return row;
    }
    if (c->h_ratio == 1 && c->v_ratio == 2) { /* 4:4:0: triangle filter down */
        const size_t near_row = y / 2;
        const size_t far_row = y % 2 == 0 ? (near_row > 0 ? near_row - 1 : 0)
                                          : (near_row + 1 < c->height ? near_row + 1 : near_row);
        const uint8_t *nearer = component_row(c, near_row);
        const uint8_t *farther = component_row(c, far_row);
        const int bias = y % 2 == 0 ? 1 : 2;
        for (x = 0; x < w; x++)
            row[x] = (uint8_t)((3 * nearer[x] + farther[x] + bias) >> 2);
        return row;
    }
    if (c->h_ratio == 2 && c->v_ratio == 2 && w > 2) { /* 4:2:0: both directions */
        const size_t near_row = y / 2;
        const size_t far_row = y % 2 == 0 ? (near_row > 0 ? near_row - 1 : 0)
                                          : (near_row + 1 < c->height ? near_row + 1 : near_row);
        const uint8_t *nearer = component_row(c, near_row);
        const uint8_t *farther = component_row(c, far_row);
        for (x = 0; x < w; x++)
            sums[x] = (uint16_t)(3 * nearer[x] + farther[x]);
        row[0] = (uint8_t)((4 * sums[0] + 8) >> 4);
        row[1] = (uint8_t)((3 * sums[0] + sums[1] + 7) >> 4);
        for (x = 1; x + 1 < w; x++) {
            row[2 * x] = (uint8_t)((3 * sums[x] + sums[x - 1] + 8) >> 4);
            row[2 * x + 1] = (uint8_t)((3 * sums[x] + sums[x + 1] + 7) >> 4);
        }
        row[2 * w - 2] = (uint8_t)((3 * sums[w - 1] + sums[w - 2] + 8) >> 4);
        row[2 * w - 1] = (uint8_t)((4 * sums[w - 1] + 7) >> 4);
        return row;
    }
    { /* any other integer ratio, and components 1 or 2 samples wide: replication */
        const uint8_t *in = component_row(c, y / (size_t)c->v_ratio);
        const size_t r = (size_t)c->h_ratio;
        size_t i;
        for (x = 0; x < w; x++)
            for (i = 0; i < r; i++)
                row[x * r + i] = in[x];
        return row;
    }
}

/* YCbCr → RGB with the 16-bit fixed-point constants of the top of the file (the products fit
 * in 32 bits: |Cb − 128|, |Cr − 128| <= 128). */
static void ycc_to_rgb_row(uint8_t *out, /* (width, 3) */ const uint8_t *luma, /* (width) */
                           const uint8_t *cb, const uint8_t *cr, /* (width) each */
                           size_t width)
{
    size_t x;
    for (x = 0; x < width; x++) {
        const int32_t y = luma[x], blue = cb[x] - 128, red = cr[x] - 128;
        out[3 * x] = clamp_int_to_byte(y + shift_right_floor_32(91881 * red + 32768, 16));
        out[3 * x + 1] =
            clamp_int_to_byte(y + shift_right_floor_32(-22554 * blue - 46802 * red + 32768, 16));
        out[3 * x + 2] = clamp_int_to_byte(y + shift_right_floor_32(116130 * blue + 32768, 16));
    }
}

/* Rows d->rows_written .. end − 1 of the image into d->pixels (height, width, channels). */
static void write_rows(jpeg_decoder *d, size_t end)
{
    const size_t channels = d->channels;
    const int rgb = d->component_count == 3 &&
                    ((!d->saw_jfif && d->saw_adobe && d->adobe_transform == 0) ||
                     (!d->saw_jfif && !d->saw_adobe && d->components[0].id == 'R' &&
                      d->components[1].id == 'G' && d->components[2].id == 'B'));
    size_t y, x;
    int i;
    for (y = d->rows_written; y < end; y++) {
        uint8_t *out = d->pixels + y * d->width * channels;
        const uint8_t *in[3];
        for (i = 0; i < d->component_count; i++)
            in[i] = upsample_row(&d->components[i], y, d->upsampled[i], d->sums);
        if (d->component_count == 1 && channels == 1) {
            memcpy(out, in[0], d->width);
        } else if (d->component_count == 1) {
            for (x = 0; x < d->width; x++)
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[0][x];
        } else if (rgb) {
            for (x = 0; x < d->width; x++) {
                out[3 * x] = in[0][x];
                out[3 * x + 1] = in[1][x];
                out[3 * x + 2] = in[2][x];
            }
        } else {
            ycc_to_rgb_row(out, in[0], in[1], in[2], d->width);
        }
    }
    d->rows_written = end;
}

/* Streaming, after an MCU row: the rows of pixels whose samples are all decoded. Row y needs
 * rows ⌊y / v_ratio⌋ − 1 .. ⌊y / v_ratio⌋ + 1 of each component (fewer at the edges); the
 * ring of 2 strips holds them. Row y was not ready after MCU row m − 1, so for some component
 * ⌊y / v_ratio⌋ + 1 >= m · strip_rows, and as strip_rows · v_ratio is the same for every
 * component (the image rows of an MCU row), y >= that · m − 4; then every component's
 * ⌊y / v_ratio⌋ − 1 is at least (m − 1) · strip_rows (strip_rows >= 8): a row of the strip
 * before the one just decoded at the earliest. */
static void write_ready_rows(jpeg_decoder *d)
{
    size_t end = d->rows_written;
    int i, ready = 1;
    while (end < d->height && ready) {
        for (i = 0; i < d->component_count; i++) {
            const jpeg_component *c = &d->components[i];
            size_t last = end / (size_t)c->v_ratio + 1;
            last = last < c->height - 1 ? last : c->height - 1;
            ready &= last < c->rows_decoded;
        }
        end += (size_t)ready;
    }
    write_rows(d, end);
}

/* ------------------------------------------------------------------------------------------
 * The marker loop and the public functions
 * ------------------------------------------------------------------------------------------ */

/* At the first scan: the planes (whole, or a ring of 2 MCU rows when streaming), the
 * coefficient arrays of a progressive image, the row buffers of write_rows and the pixels.
 * A sequential scan of every component is streamed: its rows of pixels are written as its
 * MCU rows complete; otherwise (progressive, or one scan per component) every plane is held
 * whole until the last scan. */
static int allocate_buffers(jpeg_decoder *d)
{
    size_t widest = 1, pixel_bytes;
    int i;
    d->streaming = !d->progressive && d->scan_count == d->component_count;
    for (i = 0; i < d->component_count; i++) {
        jpeg_component *c = &d->components[i];
        size_t blocks;
        if (size_multiply_checked(c->blocks_wide, c->blocks_high, &blocks) != SIMCLR_OK)
            return simclr_fail(d->err, "%s: too many blocks", d->name);
        if (d->streaming) {
            c->strip_rows = d->scan_count == 1 ? 8 : 8 * (size_t)c->v;
            c->strips = 2;
            c->plane = (uint8_t *)simclr_calloc(c->strips * c->strip_rows, c->stride, d->name,
                                                d->err);
        } else {
            c->strip_rows = 8 * c->blocks_high;
            c->strips = 1;
            c->plane = (uint8_t *)simclr_calloc(blocks, 64, d->name, d->err);
        }
        if (c->plane == NULL)
            return SIMCLR_FAILED;
        if (d->progressive) {
            c->coefficients = (int16_t *)simclr_calloc(blocks, 64 * sizeof(int16_t), d->name,
                                                       d->err);
            if (c->coefficients == NULL)
                return SIMCLR_FAILED;
        }
        d->upsampled[i] = (uint8_t *)simclr_calloc(c->width * (size_t)c->h_ratio + 1, 1,
                                                   d->name, d->err);
        if (d->upsampled[i] == NULL)
            return SIMCLR_FAILED;
        widest = c->width > widest ? c->width : widest;
    }
    d->sums = (uint16_t *)simclr_calloc(widest, sizeof *d->sums, d->name, d->err);
    if (d->sums == NULL)
        return SIMCLR_FAILED;
    if (size_multiply_checked(d->width * d->height, d->channels, &pixel_bytes) != SIMCLR_OK)
        return simclr_fail(d->err, "%s: the image is too large", d->name);
    d->pixels = (uint8_t *)simclr_calloc(pixel_bytes, 1, d->name, d->err);
    return d->pixels == NULL ? SIMCLR_FAILED : SIMCLR_OK;
}

static void free_buffers(jpeg_decoder *d)
{
    int i;
    for (i = 0; i < JPEG_MAX_COMPONENTS; i++) {
        simclr_free(d->components[i].plane);
        simclr_free(d->components[i].coefficients);
        d->components[i].plane = NULL;
        d->components[i].coefficients = NULL;
    }
    for (i = 0; i < 3; i++) {
        simclr_free(d->upsampled[i]);
        d->upsampled[i] = NULL;
    }
    simclr_free(d->sums);
    simclr_free(d->pixels);
    d->sums = NULL;
    d->pixels = NULL;
}

/* After the last scan of a progressive image: every block through the inverse DCT. */
static void transform_coefficients(jpeg_decoder *d)
{
    int i, k;
    for (i = 0; i < d->component_count; i++) {
        jpeg_component *c = &d->components[i];
        size_t row, column;
        for (row = 0; row < c->blocks_high; row++)
            for (column = 0; column < c->blocks_wide; column++) {
                const int16_t *block = c->coefficients + 64 * (row * c->blocks_wide + column);
                int has_ac = 0;
                for (k = 1; k < 64; k++)
                    has_ac |= block[k] != 0;
                idct_block(component_row(c, 8 * row) + 8 * column, c->stride, block,
                           c->quant, has_ac);
            }
    }
}

/* Reads markers from SOI on. With stop_at_frame, returns after the frame header; otherwise
 * decodes every scan until EOI (the caller's check_frame sees the frame header; the buffers
 * are allocated at the first scan). */
static int read_markers(jpeg_decoder *d, int stop_at_frame,
                        int (*check_frame)(jpeg_decoder *, void *), void *context)
{
    if (d->size < 2 || d->bytes[0] != 0xFF || d->bytes[1] != 0xD8)
        return simclr_fail(d->err, "%s: not a JPEG file (it does not start with FF D8)",
                           d->name);
    d->position = 2;
    for (;;) {
        const int marker = next_marker(d);
        const uint8_t *payload = NULL;
        size_t length = 0;
        if (marker < 0)
            return truncated(d);
        if (marker == 0xD9) { /* EOI */
            if (d->frame_marker == 0 || d->scans == 0)
                return simclr_fail(d->err, "%s: the end-of-image marker comes before any %s",
                                   d->name, d->frame_marker == 0 ? "frame header" : "scan");
            return SIMCLR_OK;
        }
        if (marker == 0xD8)
            return simclr_fail(d->err, "%s: a second start-of-image marker", d->name);
        if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01)
            continue; /* RSTn outside a scan, TEM: no segment, ignored as libjpeg does */
        if (read_segment(d, marker, &payload, &length) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (marker == 0xDB) {
            if (read_quantisation_tables(d, payload, length) != SIMCLR_OK)
                return SIMCLR_FAILED;
        } else if (marker == 0xC4) {
            if (read_huffman_tables(d, payload, length) != SIMCLR_OK)
                return SIMCLR_FAILED;
        } else if (marker == 0xDD) {
            if (length != 2)
                return simclr_fail(d->err, "%s: a DRI segment of %lu bytes (2)", d->name,
                                   (unsigned long)length);
            d->restart_interval = read_u16(payload);
        } else if (marker >= 0xE0 && marker <= 0xEF) {
            read_app_segment(d, marker, payload, length);
        } else if (marker == 0xFE || marker == 0xDC || marker == 0xCC) {
            /* COM, DNL (the height is in the frame header), DAC (arithmetic: refused at SOF) */
        } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC8) {
            /* SOF0..SOF15 (DHT C4 and DAC CC were taken above; C8 is reserved) */
            if (read_frame(d, marker, payload, length) != SIMCLR_OK)
                return SIMCLR_FAILED;
            if (stop_at_frame)
                return SIMCLR_OK;
            if (check_frame(d, context) != SIMCLR_OK)
                return SIMCLR_FAILED;
        } else if (marker == 0xDE || marker == 0xDF) {
            return simclr_fail(d->err, "%s: hierarchical JPEG (marker FF %02X) is not "
                                       "supported", d->name, (unsigned)marker);
        } else if (marker == 0xDA) {
            if (stop_at_frame)
                return simclr_fail(d->err, "%s: a scan (SOS marker) before the frame header",
                                   d->name);
            if (read_scan_header(d, payload, length) != SIMCLR_OK ||
                (d->scans == 0 && allocate_buffers(d) != SIMCLR_OK) ||
                decode_scan(d) != SIMCLR_OK)
                return SIMCLR_FAILED;
            d->scans++;
        } else {
            return simclr_fail(d->err, "%s: unknown marker FF %02X", d->name, (unsigned)marker);
        }
    }
}

int jpeg_is_jpeg(const uint8_t *bytes, size_t size)
{
    return size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

int jpeg_read_header(const uint8_t *bytes, size_t size, const char *name, size_t *height,
                     size_t *width, int *gray, simclr_error *err)
{
    jpeg_decoder *d = (jpeg_decoder *)simclr_calloc(1, sizeof *d, name, err);
    int status;
    if (d == NULL)
        return SIMCLR_FAILED;
    d->bytes = bytes;
    d->size = size;
    d->name = name;
    d->err = err;
    status = read_markers(d, 1, NULL, NULL);
    if (status == SIMCLR_OK) {
        *height = d->height;
        *width = d->width;
        *gray = d->component_count == 1;
    }
    simclr_free(d);
    return status;
}

typedef struct decode_request {
    size_t channels, max_pixels;
} decode_request;

/* Before anything is allocated: the pixel limit and the channels asked for. */
static int check_frame_for_request(jpeg_decoder *d, void *context)
{
    const decode_request *request = (const decode_request *)context;
    size_t pixels;
    if (size_multiply_checked(d->width, d->height, &pixels) != SIMCLR_OK ||
        pixels > request->max_pixels)
        return simclr_fail(d->err, "%s: %lux%lu pixels, more than the limit of %lu", d->name,
                           (unsigned long)d->width, (unsigned long)d->height,
                           (unsigned long)request->max_pixels);
    if (request->channels == 1 && d->component_count != 1)
        return simclr_fail(d->err, "%s: a colour image cannot be read as 1 channel (gray)",
                           d->name);
    return SIMCLR_OK;
}

int jpeg_decode(const uint8_t *bytes, size_t size, const char *name, size_t channels,
                size_t max_pixels, uint8_t **pixels, size_t *height, size_t *width,
                simclr_error *err)
{
    decode_request request;
    jpeg_decoder *d;
    int status = SIMCLR_FAILED, i;
    *pixels = NULL;
    if (channels != 1 && channels != 3)
        return simclr_fail(err, "%s: %lu channels asked (1 or 3)", name, (unsigned long)channels);
    d = (jpeg_decoder *)simclr_calloc(1, sizeof *d, name, err);
    if (d == NULL)
        return SIMCLR_FAILED;
    d->bytes = bytes;
    d->size = size;
    d->name = name;
    d->err = err;
    d->channels = channels;
    request.channels = channels;
    request.max_pixels = max_pixels;
    if (read_markers(d, 0, check_frame_for_request, &request) != SIMCLR_OK)
        goto done;
    for (i = 0; i < d->component_count; i++)
        if (d->progressive ? d->components[i].coefficient_bits[0] < 0
                           : !d->components[i].scanned) {
            simclr_fail(err, "%s: component %d has no scan", name, d->components[i].id);
            goto done;
        }
    if (d->progressive)
        transform_coefficients(d);
    write_rows(d, d->height); /* all of them, or (streaming) none left */
    *pixels = d->pixels;
    *height = d->height;
    *width = d->width;
    d->pixels = NULL;
    status = SIMCLR_OK;
done:
    free_buffers(d);
    simclr_free(d);
    return status;
}
