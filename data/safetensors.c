/*
 * data/safetensors.c — reading and writing safetensors, with a JSON parser for exactly the
 * header's structure. Format and checks: data/safetensors.h.
 */
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/tensor.h"
#include "file_io.h"

/* Refuse headers and files beyond these: no real checkpoint comes near them. */
#define SAFETENSORS_MAX_HEADER ((size_t)100 << 20)
/* 16 GiB, or half the address space where size_t is 32 bits (a shift by 34 would not even
 * compile there: found by the 32-bit x86 row of make check-portable). */
#if SIZE_MAX / 4 >= 0xFFFFFFFFu
#define SAFETENSORS_MAX_FILE ((size_t)1 << 34)
#else
#define SAFETENSORS_MAX_FILE (SIZE_MAX / 2)
#endif
#define SAFETENSORS_MAX_TENSORS 100000

static const char *const dtype_names[13] = {"BOOL", "U8",  "I8",  "I16", "U16", "F16", "BF16",
                                            "I32",  "U32", "F32", "I64", "U64", "F64"};
static const size_t dtype_sizes[13] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

/* ---- the JSON parser -------------------------------------------------------------------- */

typedef struct json_parser {
    const char *text;
    size_t length, position;
} json_parser;

static void json_skip_space(json_parser *p)
{
    while (p->position < p->length &&
           (p->text[p->position] == ' ' || p->text[p->position] == '\t' ||
            p->text[p->position] == '\n' || p->text[p->position] == '\r'))
        p->position++;
}

static int json_take(json_parser *p, char c)
{
    json_skip_space(p);
    if (p->position < p->length && p->text[p->position] == c) {
        p->position++;
        return 1;
    }
    return 0;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A string into out (NUL-terminated, at most capacity − 1 bytes). 0 on any error. */
static int json_string(json_parser *p, char *out, size_t capacity)
{
    size_t used = 0;
    if (!json_take(p, '"'))
        return 0;
    while (p->position < p->length) {
        unsigned long code;
        char c = p->text[p->position++];
        if (c == '"') {
            out[used] = '\0';
            return 1;
        }
        if ((unsigned char)c < 0x20)
            return 0;
        if (c != '\\') {
            if (used + 1 >= capacity)
                return 0;
            out[used++] = c;
            continue;
        }
        if (p->position >= p->length)
            return 0;
        c = p->text[p->position++];
        switch (c) {
        case '"': case '\\': case '/': code = (unsigned char)c; break;
        case 'b': code = '\b'; break;
        case 'f': code = '\f'; break;
        case 'n': code = '\n'; break;
        case 'r': code = '\r'; break;
        case 't': code = '\t'; break;
        case 'u': {
            int k;
            code = 0;
            if (p->length - p->position < 4)
                return 0;
            for (k = 0; k < 4; k++) {
                const int h = hex_value(p->text[p->position++]);
                if (h < 0)
                    return 0;
                code = code * 16 + (unsigned long)h;
            }
            if (code == 0)
                return 0; /* a NUL would cut the string short in C: "a\u0000b" would read "a" */
            break;
        }
        default: return 0;
        }
        /* UTF-8 of the code point (surrogate pairs are kept as two 3-byte sequences) */
        if (used + 4 >= capacity)
            return 0;
        if (code < 0x80) {
            out[used++] = (char)code;
        } else if (code < 0x800) {
            out[used++] = (char)(0xc0 | (code >> 6));
            out[used++] = (char)(0x80 | (code & 0x3f));
        } else {
            out[used++] = (char)(0xe0 | (code >> 12));
            out[used++] = (char)(0x80 | ((code >> 6) & 0x3f));
            out[used++] = (char)(0x80 | (code & 0x3f));
        }
    }
    return 0;
}

/* A non-negative integer without sign, fraction or exponent. */
static int json_size(json_parser *p, size_t *value)
{
    size_t v = 0;
    int digits = 0;
    json_skip_space(p);
    while (p->position < p->length && p->text[p->position] >= '0' && p->text[p->position] <= '9') {
        const size_t digit = (size_t)(p->text[p->position++] - '0');
        if (v > ((size_t)-1 - digit) / 10)
            return 0;
        v = v * 10 + digit;
        digits++;
    }
    if (digits == 0 || (p->position < p->length &&
                        (p->text[p->position] == '.' || p->text[p->position] == 'e' ||
                         p->text[p->position] == 'E')))
        return 0;
    *value = v;
    return 1;
}

/* [n, n, …] into values (at most capacity); *count the number read. */
static int json_size_array(json_parser *p, size_t *values, int capacity, int *count)
{
    *count = 0;
    if (!json_take(p, '['))
        return 0;
    if (json_take(p, ']'))
        return 1;
    do {
        if (*count >= capacity || !json_size(p, &values[*count]))
            return 0;
        (*count)++;
    } while (json_take(p, ','));
    return json_take(p, ']');
}

/* {"dtype": …, "shape": […], "data_offsets": [b, e]} in any order, each exactly once. */
static int json_tensor(json_parser *p, safetensors_tensor *t, int *dtype_known)
{
    char key[32], dtype[32];
    int seen = 0, count, i;
    size_t offsets[2];
    *dtype_known = 1;
    if (!json_take(p, '{'))
        return 0;
    do {
        if (!json_string(p, key, sizeof key) || !json_take(p, ':'))
            return 0;
        if (strcmp(key, "dtype") == 0 && !(seen & 1)) {
            if (!json_string(p, dtype, sizeof dtype))
                return 0;
            *dtype_known = 0;
            for (i = 0; i < 13; i++)
                if (strcmp(dtype, dtype_names[i]) == 0) {
                    t->dtype = (safetensors_dtype)i;
                    *dtype_known = 1;
                }
            seen |= 1;
        } else if (strcmp(key, "shape") == 0 && !(seen & 2)) {
            if (!json_size_array(p, t->shape, SAFETENSORS_MAX_DIMS, &t->ndim))
                return 0;
            seen |= 2;
        } else if (strcmp(key, "data_offsets") == 0 && !(seen & 4)) {
            if (!json_size_array(p, offsets, 2, &count) || count != 2)
                return 0;
            t->begin = offsets[0], t->end = offsets[1];
            seen |= 4;
        } else {
            return 0;
        }
    } while (json_take(p, ','));
    return json_take(p, '}') && seen == 7;
}

/* ---- reading ---------------------------------------------------------------------------- */

static uint64_t little_endian_64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int compare_begin(const void *a, const void *b)
{
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A tensor name or metadata key must be printable on one line: no control byte (below 0x20,
 * or 0x7f). */
static int name_is_clean(const char *key)
{
    for (; *key != '\0'; key++)
        if ((unsigned char)*key < 0x20 || *key == 0x7f)
            return 0;
    return 1;
}

static int compare_name(const void *a, const void *b)
{
    return strcmp(((const safetensors_tensor *const *)a)[0]->name,
                  ((const safetensors_tensor *const *)b)[0]->name);
}

static int compare_key(const void *a, const void *b)
{
    return strcmp(((const safetensors_metadata *const *)a)[0]->key,
                  ((const safetensors_metadata *const *)b)[0]->key);
}

static int safetensors_fail(safetensors_file *file, simclr_error *err, const char *name,
                            const char *problem)
{
    safetensors_free(file);
    return simclr_fail(err, "%s: %s", name, problem);
}

/* No metadata key twice; frees the file otherwise. */
static int metadata_keys_unique(safetensors_file *file, const char *name, simclr_error *err)
{
    char printable[4 * SAFETENSORS_NAME_MAX];
    const safetensors_metadata **order;
    size_t i;
    if (file->metadata_count < 2)
        return SIMCLR_OK;
    order = simclr_calloc(file->metadata_count, sizeof *order, name, err);
    if (order == NULL) {
        safetensors_free(file);
        return SIMCLR_FAILED;
    }
    for (i = 0; i < file->metadata_count; i++)
        order[i] = &file->metadata[i];
    qsort(order, file->metadata_count, sizeof *order, compare_key);
    for (i = 1; i < file->metadata_count; i++)
        if (strcmp(order[i - 1]->key, order[i]->key) == 0) {
            simclr_fail(err, "%s: the metadata key '%s' appears twice", name,
                        simclr_escape(printable, sizeof printable, order[i]->key));
            simclr_free(order);
            safetensors_free(file);
            return SIMCLR_FAILED;
        }
    simclr_free(order);
    return SIMCLR_OK;
}

/* The parser. ownership: 0 copies the bytes, 1 takes the simclr_calloc'd buffer (freed with
 * the file, or here on failure), 2 borrows them (the caller keeps them alive). */
static int parse(safetensors_file *file, const uint8_t *bytes, size_t size, const char *name,
                 int ownership, simclr_error *err)
{
    json_parser p;
    char printable[4 * SAFETENSORS_NAME_MAX];
    int metadata_seen = 0;
    uint64_t header_length;
    size_t capacity = 16, metadata_capacity = 8, i;
    const safetensors_tensor **order;
    const uint8_t *base;
    memset(file, 0, sizeof *file);
    if (ownership == 1)
        file->bytes = (uint8_t *)bytes; /* freed with the file from here on */
    if (size < 8) {
        safetensors_free(file);
        return simclr_fail(err, "%s: %lu bytes is too short for a safetensors header", name,
                           (unsigned long)size);
    }
    header_length = little_endian_64(bytes);
    if (header_length > size - 8 || header_length > SAFETENSORS_MAX_HEADER) {
        safetensors_free(file);
        return simclr_fail(err, "%s: the header length %llu reaches beyond the file (%lu bytes)",
                           name, (unsigned long long)header_length, (unsigned long)size);
    }
    if (ownership == 0)
        file->bytes = simclr_calloc(size, 1, name, err);
    file->tensors = simclr_calloc(capacity, sizeof *file->tensors, name, err);
    file->metadata = simclr_calloc(metadata_capacity, sizeof *file->metadata, name, err);
    if ((ownership != 2 && file->bytes == NULL) || file->tensors == NULL ||
        file->metadata == NULL) {
        safetensors_free(file);
        return SIMCLR_FAILED;
    }
    if (ownership == 0)
        memcpy(file->bytes, bytes, size);
    base = ownership == 2 ? bytes : file->bytes;
    file->size = size;
    file->data = base + 8 + header_length;
    file->data_size = size - 8 - (size_t)header_length;
    p.text = (const char *)base + 8;
    p.length = (size_t)header_length;
    p.position = 0;

    if (!json_take(&p, '{'))
        return safetensors_fail(file, err, name, "invalid JSON header (not an object)");
    if (!json_take(&p, '}')) {
        do {
            char key[SAFETENSORS_NAME_MAX];
            if (!json_string(&p, key, sizeof key) || !json_take(&p, ':'))
                return safetensors_fail(file, err, name, "invalid JSON header");
            if (!name_is_clean(key)) {
                simclr_fail(err, "%s: the tensor name '%s' holds a control character", name,
                            simclr_escape(printable, sizeof printable, key));
                safetensors_free(file);
                return SIMCLR_FAILED;
            }
            if (strcmp(key, "__metadata__") == 0) {
                if (metadata_seen++)
                    return safetensors_fail(file, err, name, "two __metadata__ objects");
                if (!json_take(&p, '{'))
                    return safetensors_fail(file, err, name, "invalid JSON header (metadata)");
                if (!json_take(&p, '}')) {
                    do {
                        safetensors_metadata *m;
                        if (file->metadata_count == metadata_capacity) {
                            safetensors_metadata *grown = simclr_calloc(
                                2 * metadata_capacity, sizeof *grown, name, err);
                            if (grown == NULL) {
                                safetensors_free(file);
                                return SIMCLR_FAILED;
                            }
                            memcpy(grown, file->metadata, metadata_capacity * sizeof *grown);
                            simclr_free(file->metadata);
                            file->metadata = grown;
                            metadata_capacity *= 2;
                        }
                        m = &file->metadata[file->metadata_count];
                        if (!json_string(&p, m->key, sizeof m->key) || !json_take(&p, ':') ||
                            !json_string(&p, m->value, sizeof m->value))
                            return safetensors_fail(file, err, name,
                                                    "invalid JSON header (metadata must map "
                                                    "strings to strings)");
                        if (!name_is_clean(m->key)) {
                            simclr_fail(err, "%s: the metadata key '%s' holds a control "
                                             "character", name,
                                        simclr_escape(printable, sizeof printable, m->key));
                            safetensors_free(file);
                            return SIMCLR_FAILED;
                        }
                        file->metadata_count++;
                    } while (json_take(&p, ','));
                    if (!json_take(&p, '}'))
                        return safetensors_fail(file, err, name, "invalid JSON header (metadata)");
                }
            } else {
                safetensors_tensor *t;
                int dtype_known;
                size_t elements, bytes_needed;
                if (file->count == capacity) {
                    safetensors_tensor *grown;
                    if (capacity >= SAFETENSORS_MAX_TENSORS)
                        return safetensors_fail(file, err, name, "too many tensors");
                    grown = simclr_calloc(2 * capacity, sizeof *grown, name, err);
                    if (grown == NULL) {
                        safetensors_free(file);
                        return SIMCLR_FAILED;
                    }
                    memcpy(grown, file->tensors, capacity * sizeof *grown);
                    simclr_free(file->tensors);
                    file->tensors = grown;
                    capacity *= 2;
                }
                t = &file->tensors[file->count];
                memset(t, 0, sizeof *t);
                strcpy(t->name, key);
                if (!json_tensor(&p, t, &dtype_known))
                    return safetensors_fail(file, err, name,
                                            "invalid JSON header (a tensor entry needs exactly "
                                            "dtype, shape and data_offsets)");
                if (!dtype_known) {
                    simclr_fail(err, "%s: tensor '%s' has an unknown dtype", name,
                                simclr_escape(printable, sizeof printable, t->name));
                    safetensors_free(file);
                    return SIMCLR_FAILED;
                }
                elements = 1;
                for (i = 0; i < (size_t)t->ndim; i++)
                    if (size_multiply_checked(elements, t->shape[i], &elements) != SIMCLR_OK)
                        return safetensors_fail(file, err, name, "a shape's element count "
                                                                 "overflows");
                if (t->end < t->begin || t->end > file->data_size) {
                    simclr_fail(err, "%s: tensor '%s' has offsets [%lu, %lu) outside the %lu "
                                     "bytes of data", name,
                                simclr_escape(printable, sizeof printable, t->name),
                                (unsigned long)t->begin,
                                (unsigned long)t->end, (unsigned long)file->data_size);
                    safetensors_free(file);
                    return SIMCLR_FAILED;
                }
                if (size_multiply_checked(elements, dtype_sizes[t->dtype], &bytes_needed) !=
                    SIMCLR_OK) {
                    simclr_fail(err, "%s: tensor '%s': its shape's byte count overflows", name,
                                simclr_escape(printable, sizeof printable, t->name));
                    safetensors_free(file);
                    return SIMCLR_FAILED;
                }
                if (bytes_needed != t->end - t->begin) {
                    simclr_fail(err, "%s: tensor '%s': its shape needs %lu bytes, its offsets "
                                     "give %lu", name,
                                simclr_escape(printable, sizeof printable, t->name),
                                (unsigned long)bytes_needed, (unsigned long)(t->end - t->begin));
                    safetensors_free(file);
                    return SIMCLR_FAILED;
                }
                file->count++;
            }
        } while (json_take(&p, ','));
        if (!json_take(&p, '}'))
            return safetensors_fail(file, err, name, "invalid JSON header (unterminated object)");
    }
    json_skip_space(&p);
    if (p.position != p.length)
        return safetensors_fail(file, err, name, "invalid JSON header (text after the object)");

    /* the buffers, in offset order, must tile the data exactly: no overlap, no gap */
    order = simclr_calloc(file->count + 1, sizeof *order, name, err);
    if (order == NULL) {
        safetensors_free(file);
        return SIMCLR_FAILED;
    }
    for (i = 0; i < file->count; i++)
        order[i] = &file->tensors[i];
    qsort(order, file->count, sizeof *order, compare_begin);
    {
        size_t expected = 0;
        for (i = 0; i < file->count; i++) {
            if (order[i]->begin != expected) {
                simclr_fail(err, "%s: tensor '%s' starts at %lu, where %lu was expected "
                                 "(overlapping or out-of-order buffers)", name,
                            simclr_escape(printable, sizeof printable, order[i]->name),
                            (unsigned long)order[i]->begin, (unsigned long)expected);
                simclr_free(order);
                safetensors_free(file);
                return SIMCLR_FAILED;
            }
            expected = order[i]->end;
        }
        if (expected != file->data_size) {
            simclr_free(order);
            return safetensors_fail(file, err, name, "the tensors do not cover the data section "
                                                     "exactly");
        }
    }
    /* no name twice (a second entry would shadow the first, or be shadowed): sorted by name,
     * equal names are neighbours */
    qsort(order, file->count, sizeof *order, compare_name);
    for (i = 1; i < file->count; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            simclr_fail(err, "%s: the tensor name '%s' appears twice", name,
                        simclr_escape(printable, sizeof printable, order[i]->name));
            simclr_free(order);
            safetensors_free(file);
            return SIMCLR_FAILED;
        }
    simclr_free(order);
    return metadata_keys_unique(file, name, err);
}

int safetensors_parse(safetensors_file *file, const uint8_t *bytes, size_t size, const char *name,
                      simclr_error *err)
{
    return parse(file, bytes, size, name, 0, err);
}

int safetensors_view(safetensors_file *file, const uint8_t *bytes, size_t size, const char *name,
                     simclr_error *err)
{
    return parse(file, bytes, size, name, 2, err);
}

int safetensors_read(safetensors_file *file, const char *path, simclr_error *err)
{
    uint8_t *bytes;
    size_t size;
    memset(file, 0, sizeof *file);
    if (file_read_all(path, SAFETENSORS_MAX_FILE, &bytes, &size, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    return parse(file, bytes, size, path, 1, err); /* the file's buffer, not a copy */
}

void safetensors_free(safetensors_file *file)
{
    simclr_free(file->bytes);
    simclr_free(file->tensors);
    simclr_free(file->metadata);
    memset(file, 0, sizeof *file);
}

const safetensors_tensor *safetensors_find(const safetensors_file *file, const char *name)
{
    size_t i;
    for (i = 0; i < file->count; i++)
        if (strcmp(file->tensors[i].name, name) == 0)
            return &file->tensors[i];
    return NULL;
}

const char *safetensors_metadata_value(const safetensors_file *file, const char *key)
{
    size_t i;
    for (i = 0; i < file->metadata_count; i++)
        if (strcmp(file->metadata[i].key, key) == 0)
            return file->metadata[i].value;
    return NULL;
}

int safetensors_copy_f32(const safetensors_file *file, const safetensors_tensor *entry,
                         float *out, simclr_error *err)
{
    size_t i;
    if (entry->dtype != ST_F32)
    {
        char printable[4 * SAFETENSORS_NAME_MAX];
        return simclr_fail(err, "tensor '%s' is %s, not F32",
                           simclr_escape(printable, sizeof printable, entry->name),
                           dtype_names[entry->dtype]);
    }
    for (i = 0; i < (entry->end - entry->begin) / 4; i++) {
        const uint8_t *p = file->data + entry->begin + 4 * i;
        const uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24;
        memcpy(&out[i], &bits, sizeof bits);
    }
    return SIMCLR_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Appends text to buffer (capacity checked); 0 when it does not fit. */
static int append(char *buffer, size_t capacity, size_t *used, const char *text)
{
    const size_t n = strlen(text);
    if (*used + n + 1 > capacity)
        return 0;
    memcpy(buffer + *used, text, n + 1);
    *used += n;
    return 1;
}

/* A JSON string literal of text (quotes, backslashes and control characters escaped). */
static int append_string(char *buffer, size_t capacity, size_t *used, const char *text)
{
    char piece[8];
    if (!append(buffer, capacity, used, "\""))
        return 0;
    for (; *text; text++) {
        if (*text == '"' || *text == '\\')
            sprintf(piece, "\\%c", *text);
        else if ((unsigned char)*text < 0x20)
            sprintf(piece, "\\u%04x", (unsigned)(unsigned char)*text);
        else
            piece[0] = *text, piece[1] = '\0';
        if (!append(buffer, capacity, used, piece))
            return 0;
    }
    return append(buffer, capacity, used, "\"");
}

/* Bytes per element of a tensor to write: F32 4, I64 8, U8 1. */
static size_t entry_element_bytes(const safetensors_entry *entry)
{
    return entry->f32 != NULL ? 4 : entry->i64 != NULL ? 8 : 1;
}

int safetensors_encode(const safetensors_entry *entries, size_t count,
                       const safetensors_metadata *metadata, size_t metadata_count,
                       const char *path, uint8_t **bytes, size_t *size, simclr_error *err)
{
    size_t header_capacity = 256 + count * (SAFETENSORS_NAME_MAX * 2 + 64 * SAFETENSORS_MAX_DIMS + 128) +
                             metadata_count * (SAFETENSORS_NAME_MAX * 2 + 256 * 6 + 16);
    size_t used = 0, offset = 0, data_size = 0, header_size, i, k, total;
    char *header, number[64];
    uint8_t *out;
    int ok = 1;
    for (i = 0; i < count; i++) {
        size_t elements = 1;
        for (k = 0; k < (size_t)entries[i].ndim; k++)
            if (size_multiply_checked(elements, entries[i].shape[k], &elements) != SIMCLR_OK)
                return simclr_fail(err, "%s: tensor '%s' is too large", path, entries[i].name);
        data_size += elements * entry_element_bytes(&entries[i]);
    }
    header = simclr_calloc(header_capacity, 1, path, err);
    if (header == NULL)
        return SIMCLR_FAILED;
    ok &= append(header, header_capacity, &used, "{");
    if (metadata_count > 0) {
        ok &= append(header, header_capacity, &used, "\"__metadata__\":{");
        for (i = 0; i < metadata_count; i++) {
            ok &= append(header, header_capacity, &used, i ? "," : "");
            ok &= append_string(header, header_capacity, &used, metadata[i].key);
            ok &= append(header, header_capacity, &used, ":");
            ok &= append_string(header, header_capacity, &used, metadata[i].value);
        }
        ok &= append(header, header_capacity, &used, "}");
    }
    for (i = 0; i < count; i++) {
        size_t elements = 1;
        for (k = 0; k < (size_t)entries[i].ndim; k++)
            elements *= entries[i].shape[k];
        ok &= append(header, header_capacity, &used, (metadata_count > 0 || i > 0) ? "," : "");
        ok &= append_string(header, header_capacity, &used, entries[i].name);
        ok &= append(header, header_capacity, &used, entries[i].f32 != NULL
                                                         ? ":{\"dtype\":\"F32\",\"shape\":["
                                                     : entries[i].i64 != NULL
                                                         ? ":{\"dtype\":\"I64\",\"shape\":["
                                                         : ":{\"dtype\":\"U8\",\"shape\":[");
        for (k = 0; k < (size_t)entries[i].ndim; k++) {
            sprintf(number, k ? ",%lu" : "%lu", (unsigned long)entries[i].shape[k]);
            ok &= append(header, header_capacity, &used, number);
        }
        sprintf(number, "],\"data_offsets\":[%lu,%lu]}", (unsigned long)offset,
                (unsigned long)(offset + elements * entry_element_bytes(&entries[i])));
        ok &= append(header, header_capacity, &used, number);
        offset += elements * entry_element_bytes(&entries[i]);
    }
    ok &= append(header, header_capacity, &used, "}");
    while (ok && used % 8 != 0) /* pad the header with spaces to a multiple of 8 */
        ok &= append(header, header_capacity, &used, " ");
    if (!ok) {
        simclr_free(header);
        return simclr_fail(err, "%s: the header does not fit (names or metadata too long)", path);
    }
    header_size = used;
    total = 8 + header_size + data_size;
    out = simclr_calloc(total, 1, path, err);
    if (out == NULL) {
        simclr_free(header);
        return SIMCLR_FAILED;
    }
    for (k = 0; k < 8; k++)
        out[k] = (uint8_t)((uint64_t)header_size >> (8 * k));
    memcpy(out + 8, header, header_size);
    simclr_free(header);
    offset = 8 + header_size;
    for (i = 0; i < count; i++) {
        size_t elements = 1, e;
        for (k = 0; k < (size_t)entries[i].ndim; k++)
            elements *= entries[i].shape[k];
        for (e = 0; e < elements; e++) {
            if (entries[i].f32 != NULL) {
                uint32_t bits;
                memcpy(&bits, &entries[i].f32[e], 4);
                for (k = 0; k < 4; k++)
                    out[offset++] = (uint8_t)(bits >> (8 * k));
            } else if (entries[i].i64 == NULL) {
                out[offset++] = entries[i].u8[e];
            } else {
                const uint64_t bits = (uint64_t)entries[i].i64[e];
                for (k = 0; k < 8; k++)
                    out[offset++] = (uint8_t)(bits >> (8 * k));
            }
        }
    }
    *bytes = out;
    *size = total;
    return SIMCLR_OK;
}

int safetensors_write(const char *path, const safetensors_entry *entries, size_t count,
                      const safetensors_metadata *metadata, size_t metadata_count,
                      simclr_error *err)
{
    uint8_t *bytes;
    size_t size;
    int status;
    if (safetensors_encode(entries, count, metadata, metadata_count, path, &bytes, &size, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    status = file_write_atomically(path, bytes, size, err);
    simclr_free(bytes);
    return status;
}
