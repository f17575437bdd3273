/*
 * data/tar.c — walking a ustar archive in memory. Format and checks: data/tar.h.
 */
#include "tar.h"

#include <string.h>

/* An octal field (spaces and NULs around the digits allowed); -1 when it is not octal. */
static long long parse_octal(const uint8_t *field, size_t length)
{
    long long value = 0;
    size_t i = 0;
    int digits = 0;
    while (i < length && field[i] == ' ')
        i++;
    for (; i < length && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
        if (value > (((long long)1 << 60) >> 3))
            return -1;
        value = value * 8 + (field[i] - '0');
    }
    for (; i < length; i++)
        if (field[i] != ' ' && field[i] != '\0')
            return -1;
    return digits > 0 ? value : -1;
}

static int all_zero(const uint8_t *block)
{
    size_t i;
    for (i = 0; i < 512; i++)
        if (block[i] != 0)
            return 0;
    return 1;
}

int tar_next(const uint8_t *archive, size_t size, size_t *offset, tar_member *member,
             const char *name, simclr_error *err)
{
    const uint8_t *header;
    long long member_size, checksum;
    unsigned long sum = 0;
    size_t i, prefix_length, name_length;
    for (;;) {
        if (*offset + 512 > size)
            return 0; /* no further header: the end (a trailing partial block is padding) */
        header = archive + *offset;
        if (all_zero(header))
            return 0;
        for (i = 0; i < 512; i++)
            sum += (i >= 148 && i < 156) ? (unsigned long)' ' : header[i];
        checksum = parse_octal(header + 148, 8);
        if (checksum < 0 || (unsigned long)checksum != sum)
            return simclr_fail(err, "%s: bad tar header checksum at byte %lu", name,
                               (unsigned long)*offset);
        member_size = parse_octal(header + 124, 12);
        if (member_size < 0)
            return simclr_fail(err, "%s: a tar member size that is not octal at byte %lu", name,
                               (unsigned long)*offset);
        if ((unsigned long long)member_size > size - *offset - 512)
            return simclr_fail(err, "%s: a tar member runs past the end of the archive", name);
        memset(member, 0, sizeof *member);
        prefix_length = memchr(header + 345, 0, 155) ? strlen((const char *)header + 345) : 155;
        name_length = memchr(header, 0, 100) ? strlen((const char *)header) : 100;
        if (prefix_length > 0 && memcmp(header + 257, "ustar", 5) == 0) {
            memcpy(member->name, header + 345, prefix_length);
            member->name[prefix_length] = '/';
            memcpy(member->name + prefix_length + 1, header, name_length);
        } else {
            memcpy(member->name, header, name_length);
        }
        member->data = header + 512;
        member->size = (size_t)member_size;
        member->regular = header[156] == '0' || header[156] == '\0';
        *offset += 512 + ((size_t)member_size + 511) / 512 * 512;
        if (*offset > size)
            *offset = size;
        return 1;
    }
}
