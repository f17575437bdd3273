/*
 * data/inflate.h — DEFLATE (RFC 1951) and gzip (RFC 1952) decompression in plain C99, so that
 * the distributed dataset files (Fashion-MNIST's .gz, CIFAR's .tar.gz) are read in place.
 *
 * DEFLATE: a sequence of blocks, each with a 3-bit header (BFINAL, BTYPE):
 *   BTYPE 00  stored: skip to a byte boundary, LEN and NLEN = ~LEN (little-endian 16-bit), LEN bytes
 *   BTYPE 01  fixed Huffman codes: literal/length 0-143 8 bits, 144-255 9, 256-279 7, 280-287 8;
 *             distances 5 bits
 *   BTYPE 10  dynamic codes: HLIT + 257, HDIST + 1, HCLEN + 4 code-length code lengths (3 bits
 *             each, in the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15), then the
 *             literal/length and distance code lengths with the repeat codes 16 (previous length
 *             3-6 times), 17 (zero 3-10 times), 18 (zero 11-138 times)
 *   BTYPE 11  an error
 * Codes are canonical Huffman codes, decoded one bit at a time (the bits of a code arrive most
 * significant first, everything else least significant first). Length codes 257-285 and distance
 * codes 0-29 take the base values and extra bits of RFC 1951 §3.2.5.
 * Rejected with a reason: truncated input, a bad block type, stored LEN/NLEN mismatch, code
 * lengths that over-subscribe (or, except for a single distance code, under-subscribe) the code
 * space, a repeat with nothing to repeat or past the end, no end-of-block code, invalid
 * length/distance symbols, a distance beyond the output produced so far, output beyond the limit.
 *
 * gzip: one or more members, each: magic 1f 8b, method 8 (deflate), flags (FTEXT, FHCRC, FEXTRA,
 * FNAME, FCOMMENT; reserved bits must be 0), mtime, xfl, os, the optional fields, the deflate
 * data, then CRC-32 and ISIZE (the uncompressed size mod 2^32), both little-endian, both checked.
 *
 * Errors name the file (the `name` argument) and the problem.
 */
#ifndef SIMCLR_DATA_INFLATE_H
#define SIMCLR_DATA_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

/* Decompresses the raw DEFLATE stream in[0 .. in_size) into out[0 .. out_capacity): *out_size
 * bytes produced, *consumed input bytes used (through the final block's last byte). */
int inflate_raw(uint8_t *out, size_t out_capacity, size_t *out_size, const uint8_t *in,
                size_t in_size, size_t *consumed, const char *name, simclr_error *err);

/* Decompresses a whole gzip file (all members) into a new buffer (*out, freed with simclr_free)
 * of *out_size bytes, refusing to produce more than max_size bytes. */
int gzip_decompress(uint8_t **out, size_t *out_size, const uint8_t *in, size_t in_size,
                    size_t max_size, const char *name, simclr_error *err);

#endif
