/*
 * tests/test_safetensors.c — safetensors (data/safetensors.h): a file written here reads back
 * exactly (values, shapes, metadata); a header written by hand to the format's definition
 * parses; and every rejection data/safetensors.h lists happens, naming the file and the problem.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

/* 8-byte little-endian length + header + data, into buffer; returns the total size. */
static size_t build(uint8_t *buffer, const char *header, const uint8_t *data, size_t data_size)
{
    const size_t n = strlen(header);
    size_t k;
    for (k = 0; k < 8; k++)
        buffer[k] = (uint8_t)((uint64_t)n >> (8 * k));
    memcpy(buffer + 8, header, n);
    memcpy(buffer + 8 + n, data, data_size);
    return 8 + n + data_size;
}

Test(safetensors, write_then_read_round_trip)
{
    const char *path = "/tmp/simclr_test_round_trip.safetensors";
    const float weights[6] = {1.5f, -2.25f, 3.0e-8f, 0.0f, -0.0f, 65504.0f};
    const int64_t steps[1] = {-123456789012LL};
    safetensors_entry entries[2];
    safetensors_metadata metadata[2];
    safetensors_file file;
    simclr_error err;
    float back[6];
    const safetensors_tensor *t;
    memset(entries, 0, sizeof entries);
    entries[0].name = "backbone.conv1.weight", entries[0].ndim = 2;
    entries[0].shape[0] = 2, entries[0].shape[1] = 3, entries[0].f32 = weights;
    entries[1].name = "backbone.bn1.num_batches_tracked", entries[1].ndim = 0;
    entries[1].i64 = steps;
    strcpy(metadata[0].key, "arch"), strcpy(metadata[0].value, "resnet18");
    strcpy(metadata[1].key, "note"), strcpy(metadata[1].value, "quote \" and backslash \\");
    cr_assert_eq(safetensors_write(path, entries, 2, metadata, 2, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(file.count, 2u);
    t = safetensors_find(&file, "backbone.conv1.weight");
    cr_assert_not_null(t);
    cr_expect(t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    cr_assert_eq(safetensors_copy_f32(&file, t, back, &err), SIMCLR_OK);
    cr_expect(memcmp(back, weights, sizeof back) == 0, "F32 values bit-exact");
    t = safetensors_find(&file, "backbone.bn1.num_batches_tracked");
    cr_assert_not_null(t);
    cr_expect(t->dtype == ST_I64 && t->ndim == 0 && t->end - t->begin == 8);
    cr_expect_eq(file.data[t->begin], (uint8_t)(steps[0] & 0xff), "little-endian I64");
    cr_expect_str_eq(safetensors_metadata_value(&file, "arch"), "resnet18");
    cr_expect_str_eq(safetensors_metadata_value(&file, "note"), "quote \" and backslash \\");
    cr_expect_eq((file.data - file.bytes) % 8, 0, "the header is padded to 8 bytes");
    safetensors_free(&file);
    remove(path);
}

/* The format's definition, by hand: two F32 values 1.0 and 2.0 (0x3f800000, 0x40000000). */
Test(safetensors, hand_written_file_parses)
{
    const uint8_t data[8] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40};
    uint8_t buffer[256];
    safetensors_file file;
    simclr_error err;
    float values[2];
    const size_t size = build(buffer,
                              " {\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                              " \"__metadata__\": {\"format\": \"pt\"}}  ",
                              data, 8);
    cr_assert_eq(safetensors_parse(&file, buffer, size, "t.safetensors", &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(safetensors_copy_f32(&file, safetensors_find(&file, "a"), values, &err),
                 SIMCLR_OK);
    cr_expect(values[0] == 1.0f && values[1] == 2.0f);
    cr_expect_str_eq(safetensors_metadata_value(&file, "format"), "pt");
    safetensors_free(&file);
}

static void expect_rejected(const uint8_t *buffer, size_t size, const char *reason)
{
    safetensors_file file;
    simclr_error err;
    memset(&err, 0, sizeof err);
    cr_expect_eq(safetensors_parse(&file, buffer, size, "bad.safetensors", &err), SIMCLR_FAILED,
                 "must be rejected: %s", reason);
    cr_expect_not_null(strstr(err.message, "bad.safetensors"), "%s", err.message);
    cr_expect_not_null(strstr(err.message, reason), "wanted '%s', got: %s", reason, err.message);
}

Test(safetensors, every_rejection_of_the_spec)
{
    const uint8_t data[16] = {0};
    uint8_t buffer[512];
    size_t size;
    /* header length beyond the file */
    size = build(buffer, "{}", data, 0);
    buffer[0] = 200;
    expect_rejected(buffer, size, "beyond the file");
    expect_rejected(buffer, 5, "too short");
    /* invalid JSON */
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", data, 8);
    expect_rejected(buffer, size, "invalid JSON");
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", data, 8);
    expect_rejected(buffer, size, "invalid JSON");
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", data, 8);
    expect_rejected(buffer, size, "invalid JSON");
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", data, 8);
    expect_rejected(buffer, size, "invalid JSON");
    size = build(buffer, "{} trailing", data, 0);
    expect_rejected(buffer, size, "invalid JSON");
    /* offsets outside the data */
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", data, 8);
    expect_rejected(buffer, size, "outside");
    /* overlapping buffers */
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", data, 12);
    expect_rejected(buffer, size, "overlapping or out-of-order");
    /* a gap between buffers (out of order with the data) */
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", data, 8);
    expect_rejected(buffer, size, "overlapping or out-of-order");
    /* end before begin */
    size = build(buffer, "{\"a\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [8, 4]}}", data, 8);
    expect_rejected(buffer, size, "outside");
    /* a shape whose element count does not match its bytes */
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", data, 8);
    expect_rejected(buffer, size, "needs 12 bytes");
    /* an unknown dtype */
    size = build(buffer, "{\"a\": {\"dtype\": \"F128\", \"shape\": [1], \"data_offsets\": [0, 16]}}", data, 16);
    expect_rejected(buffer, size, "unknown dtype");
    /* data not fully covered */
    size = build(buffer, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", data, 8);
    expect_rejected(buffer, size, "cover");
}

Test(safetensors, missing_file_is_named)
{
    safetensors_file file;
    simclr_error err;
    cr_expect_eq(safetensors_read(&file, "/nonexistent/x.safetensors", &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "/nonexistent/x.safetensors"), "%s", err.message);
}
