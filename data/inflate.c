/*
 * data/inflate.c — a DEFLATE decoder and a gzip reader. The formats, what is checked and what is
 * rejected: data/inflate.h.
 */
#include "inflate.h"

#include <string.h>

#include "../nn/memory.h"
#include "file_io.h" /* crc32_update */

#define INFLATE_MAX_BITS 15
#define INFLATE_MAX_LITERALS 288
#define INFLATE_MAX_DISTANCES 30

typedef struct inflate_state {
    const uint8_t *in;
    size_t in_size, in_position;
    uint32_t bit_buffer;
    int bit_count;
    uint8_t *out;
    size_t out_capacity, out_position;
    const char *name;
    simclr_error *err;
} inflate_state;

/* A canonical Huffman code: how many codes of each length, and the symbols in code order. */
typedef struct huffman_code {
    short count[INFLATE_MAX_BITS + 1];
    short symbol[INFLATE_MAX_LITERALS];
} huffman_code;

/* The next n bits (n <= 16), least significant first; -1 when the input ends. */
static long read_bits(inflate_state *s, int n)
{
    long value;
    while (s->bit_count < n) {
        if (s->in_position >= s->in_size)
            return -1;
        s->bit_buffer |= (uint32_t)s->in[s->in_position++] << s->bit_count;
        s->bit_count += 8;
    }
    value = (long)(s->bit_buffer & ((1u << n) - 1u));
    s->bit_buffer >>= n;
    s->bit_count -= n;
    return value;
}

static int truncated(inflate_state *s)
{
    return simclr_fail(s->err, "%s: the compressed data ends early (truncated file?)", s->name);
}

/* Builds the code from code lengths. Returns 0 for a complete code, a positive number for an
 * incomplete one, -1 for an over-subscribed one. */
static int huffman_build(huffman_code *code, const short *lengths, int symbols)
{
    short offsets[INFLATE_MAX_BITS + 1];
    int left = 1, length, symbol;
    memset(code->count, 0, sizeof code->count);
    for (symbol = 0; symbol < symbols; symbol++)
        code->count[lengths[symbol]]++;
    if (code->count[0] == symbols)
        return 0; /* no codes at all: complete, but every decode fails */
    for (length = 1; length <= INFLATE_MAX_BITS; length++) {
        left <<= 1;
        left -= code->count[length];
        if (left < 0)
            return -1;
    }
    offsets[1] = 0;
    for (length = 1; length < INFLATE_MAX_BITS; length++)
        offsets[length + 1] = (short)(offsets[length] + code->count[length]);
    for (symbol = 0; symbol < symbols; symbol++)
        if (lengths[symbol] != 0)
            code->symbol[offsets[lengths[symbol]]++] = (short)symbol;
    return left;
}

/* The next symbol of `code`; -1 at the end of input, -2 for a bit pattern that is no code. */
static int huffman_decode(inflate_state *s, const huffman_code *code)
{
    int value = 0, first = 0, index = 0, length;
    for (length = 1; length <= INFLATE_MAX_BITS; length++) {
        const long bit = read_bits(s, 1);
        const int count = code->count[length];
        if (bit < 0)
            return -1;
        value |= (int)bit;
        if (value - count < first)
            return code->symbol[index + (value - first)];
        index += count;
        first = (first + count) << 1;
        value <<= 1;
    }
    return -2;
}

static const short length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const short length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                       2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const unsigned short distance_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const short distance_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                         6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* Literals and matches until the end-of-block symbol. */
static int inflate_codes(inflate_state *s, const huffman_code *literals,
                         const huffman_code *distances)
{
    for (;;) {
        int symbol = huffman_decode(s, literals);
        if (symbol == -1)
            return truncated(s);
        if (symbol < 0)
            return simclr_fail(s->err, "%s: corrupt compressed data (no literal/length code "
                                       "matches)", s->name);
        if (symbol < 256) {
            if (s->out_position >= s->out_capacity)
                return simclr_fail(s->err, "%s: decompresses to more than %lu bytes", s->name,
                                   (unsigned long)s->out_capacity);
            s->out[s->out_position++] = (uint8_t)symbol;
        } else if (symbol == 256) {
            return SIMCLR_OK;
        } else {
            long extra;
            size_t length, distance;
            symbol -= 257;
            if (symbol >= 29)
                return simclr_fail(s->err, "%s: corrupt compressed data (length symbol %d)",
                                   s->name, symbol + 257);
            if ((extra = read_bits(s, length_extra[symbol])) < 0)
                return truncated(s);
            length = (size_t)(length_base[symbol] + extra);
            symbol = huffman_decode(s, distances);
            if (symbol == -1)
                return truncated(s);
            if (symbol < 0 || symbol >= 30)
                return simclr_fail(s->err, "%s: corrupt compressed data (distance symbol)",
                                   s->name);
            if ((extra = read_bits(s, distance_extra[symbol])) < 0)
                return truncated(s);
            distance = (size_t)(distance_base[symbol] + extra);
            if (distance > s->out_position)
                return simclr_fail(s->err, "%s: corrupt compressed data (a distance of %lu "
                                           "reaches before the start of the output)",
                                   s->name, (unsigned long)distance);
            if (length > s->out_capacity - s->out_position)
                return simclr_fail(s->err, "%s: decompresses to more than %lu bytes", s->name,
                                   (unsigned long)s->out_capacity);
            while (length-- > 0) { /* byte by byte: the source may overlap the destination */
                s->out[s->out_position] = s->out[s->out_position - distance];
                s->out_position++;
            }
        }
    }
}

static int inflate_stored(inflate_state *s)
{
    size_t length, complement;
    s->bit_buffer = 0; /* stored data starts at the next byte boundary */
    s->bit_count = 0;
    if (s->in_size - s->in_position < 4)
        return truncated(s);
    length = (size_t)s->in[s->in_position] | (size_t)s->in[s->in_position + 1] << 8;
    complement = (size_t)s->in[s->in_position + 2] | (size_t)s->in[s->in_position + 3] << 8;
    if ((length ^ 0xffffu) != complement)
        return simclr_fail(s->err, "%s: corrupt compressed data (stored block length and its "
                                   "complement disagree)", s->name);
    s->in_position += 4;
    if (s->in_size - s->in_position < length)
        return truncated(s);
    if (length > s->out_capacity - s->out_position)
        return simclr_fail(s->err, "%s: decompresses to more than %lu bytes", s->name,
                           (unsigned long)s->out_capacity);
    memcpy(s->out + s->out_position, s->in + s->in_position, length);
    s->out_position += length;
    s->in_position += length;
    return SIMCLR_OK;
}

/* The fixed codes are rebuilt for every fixed block (a few hundred operations): no shared
 * state, so any number of threads may decode at once. */
static int inflate_fixed(inflate_state *s)
{
    huffman_code literals, distances;
    short lengths[INFLATE_MAX_LITERALS];
    int symbol;
    for (symbol = 0; symbol < 144; symbol++)
        lengths[symbol] = 8;
    for (; symbol < 256; symbol++)
        lengths[symbol] = 9;
    for (; symbol < 280; symbol++)
        lengths[symbol] = 7;
    for (; symbol < 288; symbol++)
        lengths[symbol] = 8;
    huffman_build(&literals, lengths, 288);
    for (symbol = 0; symbol < 30; symbol++)
        lengths[symbol] = 5;
    huffman_build(&distances, lengths, 30);
    return inflate_codes(s, &literals, &distances);
}

static int inflate_dynamic(inflate_state *s)
{
    static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    short lengths[INFLATE_MAX_LITERALS + INFLATE_MAX_DISTANCES];
    huffman_code literals, distances, lengths_code;
    long literal_count, distance_count, code_count, value;
    int index, result;
    if ((literal_count = read_bits(s, 5)) < 0 || (distance_count = read_bits(s, 5)) < 0 ||
        (code_count = read_bits(s, 4)) < 0)
        return truncated(s);
    literal_count += 257, distance_count += 1, code_count += 4;
    if (literal_count > 286 || distance_count > 30)
        return simclr_fail(s->err, "%s: corrupt compressed data (too many codes)", s->name);
    for (index = 0; index < 19; index++) {
        value = index < code_count ? read_bits(s, 3) : 0;
        if (value < 0)
            return truncated(s);
        lengths[order[index]] = (short)value;
    }
    if (huffman_build(&lengths_code, lengths, 19) != 0)
        return simclr_fail(s->err, "%s: corrupt compressed data (the code-length code "
                                   "over- or under-subscribes)", s->name);
    index = 0;
    while (index < literal_count + distance_count) {
        int symbol = huffman_decode(s, &lengths_code), repeat;
        short repeated = 0;
        if (symbol == -1)
            return truncated(s);
        if (symbol < 0)
            return simclr_fail(s->err, "%s: corrupt compressed data (code lengths)", s->name);
        if (symbol < 16) {
            lengths[index++] = (short)symbol;
            continue;
        }
        if (symbol == 16) {
            if (index == 0)
                return simclr_fail(s->err, "%s: corrupt compressed data (a repeat with nothing "
                                           "to repeat)", s->name);
            repeated = lengths[index - 1];
            value = read_bits(s, 2), repeat = 3;
        } else if (symbol == 17) {
            value = read_bits(s, 3), repeat = 3;
        } else {
            value = read_bits(s, 7), repeat = 11;
        }
        if (value < 0)
            return truncated(s);
        repeat += (int)value;
        if (index + repeat > literal_count + distance_count)
            return simclr_fail(s->err, "%s: corrupt compressed data (code lengths run past the "
                                       "end)", s->name);
        while (repeat-- > 0)
            lengths[index++] = repeated;
    }
    if (lengths[256] == 0)
        return simclr_fail(s->err, "%s: corrupt compressed data (no end-of-block code)", s->name);
    result = huffman_build(&literals, lengths, (int)literal_count);
    if (result < 0 || (result > 0 && literal_count - literals.count[0] != 1))
        return simclr_fail(s->err, "%s: corrupt compressed data (literal/length code lengths "
                                   "over- or under-subscribe)", s->name);
    result = huffman_build(&distances, lengths + literal_count, (int)distance_count);
    if (result < 0 || (result > 0 && distance_count - distances.count[0] != 1))
        return simclr_fail(s->err, "%s: corrupt compressed data (distance code lengths over- or "
                                   "under-subscribe)", s->name);
    return inflate_codes(s, &literals, &distances);
}

int inflate_raw(uint8_t *out, size_t out_capacity, size_t *out_size, const uint8_t *in,
                size_t in_size, size_t *consumed, const char *name, simclr_error *err)
{
    inflate_state s;
    long last, type;
    int status;
    memset(&s, 0, sizeof s);
    s.in = in, s.in_size = in_size, s.out = out, s.out_capacity = out_capacity;
    s.name = name, s.err = err;
    do {
        if ((last = read_bits(&s, 1)) < 0 || (type = read_bits(&s, 2)) < 0)
            return truncated(&s);
        if (type == 0)
            status = inflate_stored(&s);
        else if (type == 1)
            status = inflate_fixed(&s);
        else if (type == 2)
            status = inflate_dynamic(&s);
        else
            return simclr_fail(err, "%s: corrupt compressed data (block type 3)", name);
        if (status != SIMCLR_OK)
            return status;
    } while (!last);
    *out_size = s.out_position;
    *consumed = s.in_position; /* unused bits of the last byte are padding */
    return SIMCLR_OK;
}

static uint32_t little_endian_32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int gzip_decompress(uint8_t **out, size_t *out_size, const uint8_t *in, size_t in_size,
                    size_t max_size, const char *name, simclr_error *err)
{
    size_t position = 0, produced = 0, capacity;
    uint8_t *buffer;
    *out = NULL;
    *out_size = 0;
    if (in_size < 18 || in[0] != 0x1f || in[1] != 0x8b)
        return simclr_fail(err, "%s: not a gzip file (wrong magic)", name);
    /* the output size is known only at the end (ISIZE is untrusted): start from the last
     * member's ISIZE as a hint, but never beyond what the input can possibly expand to
     * (DEFLATE's best ratio is 258 bytes per 2 bits: under 1032:1), nor beyond max_size;
     * grow by doubling up to max_size when the hint was low */
    capacity = little_endian_32(in + in_size - 4);
    if (capacity == 0 || capacity > max_size)
        capacity = max_size < 65536 ? max_size : 65536;
    if (in_size < ((size_t)-1 - 65536) / 1032 && capacity > 1032 * in_size + 65536)
        capacity = 1032 * in_size + 65536;
    buffer = simclr_calloc(capacity > 0 ? capacity : 1, 1, name, err);
    if (buffer == NULL)
        return SIMCLR_FAILED;
    while (position < in_size) {
        const size_t member_start = produced;
        size_t consumed, made;
        int flags;
        if (in_size - position < 18 || in[position] != 0x1f || in[position + 1] != 0x8b) {
            if (produced > 0 && position < in_size && in[position] == 0)
                break; /* trailing zero padding after the last member is tolerated */
            simclr_free(buffer);
            return simclr_fail(err, "%s: not a gzip member at byte %lu (wrong magic or "
                                    "truncated)", name, (unsigned long)position);
        }
        if (in[position + 2] != 8 || (in[position + 3] & 0xe0) != 0) {
            simclr_free(buffer);
            return simclr_fail(err, "%s: unsupported gzip method or reserved flags", name);
        }
        flags = in[position + 3];
        position += 10;
        if (flags & 4) { /* FEXTRA */
            size_t extra;
            if (in_size - position < 2)
                goto cut;
            extra = (size_t)in[position] | (size_t)in[position + 1] << 8;
            if (in_size - position - 2 < extra)
                goto cut;
            position += 2 + extra;
        }
        if (flags & 8) { /* FNAME */
            while (position < in_size && in[position] != 0)
                position++;
            position++;
        }
        if (flags & 16) { /* FCOMMENT */
            while (position < in_size && in[position] != 0)
                position++;
            position++;
        }
        if (flags & 2) /* FHCRC */
            position += 2;
        if (position >= in_size)
            goto cut;
        for (;;) {
            simclr_error attempt;
            if (inflate_raw(buffer + produced, capacity - produced, &made, in + position,
                            in_size - position, &consumed, name, &attempt) == SIMCLR_OK)
                break;
            if (strstr(attempt.message, "decompresses to more than") == NULL ||
                capacity >= max_size) {
                simclr_free(buffer);
                if (err != NULL)
                    *err = attempt;
                if (capacity >= max_size && strstr(attempt.message, "decompresses to more") != NULL)
                    return simclr_fail(err, "%s: decompresses to more than the limit of %lu "
                                            "bytes", name, (unsigned long)max_size);
                return SIMCLR_FAILED;
            }
            { /* grow and decode the member again */
                const size_t larger = capacity > max_size / 2 ? max_size : 2 * capacity;
                uint8_t *grown = simclr_calloc(larger, 1, name, err);
                if (grown == NULL) {
                    simclr_free(buffer);
                    return SIMCLR_FAILED;
                }
                memcpy(grown, buffer, produced);
                simclr_free(buffer);
                buffer = grown;
                capacity = larger;
            }
        }
        produced += made;
        position += consumed;
        if (in_size - position < 8)
            goto cut;
        if (little_endian_32(in + position) != crc32_update(0, buffer + member_start, made)) {
            simclr_free(buffer);
            return simclr_fail(err, "%s: CRC-32 mismatch (corrupt data)", name);
        }
        if (little_endian_32(in + position + 4) != (uint32_t)made) {
            simclr_free(buffer);
            return simclr_fail(err, "%s: ISIZE mismatch (the stored length is not the data's)",
                               name);
        }
        position += 8;
    }
    *out = buffer;
    *out_size = produced;
    return SIMCLR_OK;
cut:
    simclr_free(buffer);
    return simclr_fail(err, "%s: the gzip header or trailer is truncated", name);
}
