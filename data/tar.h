/*
 * data/tar.h — reading ustar archives (POSIX.1-1988 "ustar" and the GNU variant) held in memory,
 * so that cifar-10-binary.tar.gz is read in place.
 *
 * An archive is a sequence of 512-byte headers, each followed by the member's data padded to a
 * multiple of 512, ended by zero blocks. Header fields used: name (100 bytes) with the ustar
 * prefix (155 bytes at offset 345, joined with '/'), size (12 bytes of octal at 124), checksum (8
 * bytes of octal at 148: the sum of all 512 header bytes with the checksum field counted as
 * spaces), typeflag (offset 156: '0' or NUL for a regular file). The name and prefix fields need
 * no NUL when full: a 155-byte prefix and a 100-byte name give a 256-byte path. Names are bytes
 * as stored; print them through simclr_escape (nn/error.h).
 * Rejected, naming the archive: a header whose checksum does not match, a size that is not
 * octal, a member running past the end of the archive.
 */
#ifndef SIMCLR_DATA_TAR_H
#define SIMCLR_DATA_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

typedef struct tar_member {
    char name[257];       /* prefix/name: 155 + 1 + 100 bytes and the NUL */
    const uint8_t *data;  /* inside the archive buffer */
    size_t size;
    int regular;          /* 1 for a regular file */
} tar_member;

/* Walks the archive: *offset starts at 0; each call fills the next member and returns 1, returns
 * 0 at the end, SIMCLR_FAILED (with the reason) on a bad header. */
int tar_next(const uint8_t *archive, size_t size, size_t *offset, tar_member *member,
             const char *name, simclr_error *err);

#endif
