/*
 * data/safetensors.h — the safetensors format (Hugging Face): checkpoints and reference
 * outputs that PyTorch, JAX and others read.
 *
 *   8 bytes   header length n, little-endian u64
 *   n bytes   JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …,
 *             "__metadata__": {"key": "value", …}}   (padding spaces allowed at the end)
 *   the rest  the tensors' bytes, little-endian, at [begin, end) relative to the end of the header
 * dtypes and sizes: BOOL 1, U8 1, I8 1, I16 2, U16 2, F16 2, BF16 2, I32 4, U32 4, F32 4, I64 8,
 * U64 8, F64 8.
 * The reader rejects, naming the file: a header length beyond the file, invalid JSON (or JSON
 * that is not this structure), offsets outside the data, buffers that overlap, leave gaps or end
 * before they begin, a shape whose element count does not match its bytes, an unknown dtype,
 * a tensor name or metadata key given twice (or two __metadata__ objects), a name or key holding
 * a control character (below 0x20, or 0x7f), a \u0000 escape in any string. Names printed in
 * messages are escaped (simclr_escape), so every message is one line.
 * Values are converted from little-endian explicitly, so big-endian machines read the same
 * numbers. The writer puts tensors in the order given, contiguously, and writes atomically
 * (a temporary file renamed into place).
 */
#ifndef SIMCLR_DATA_SAFETENSORS_H
#define SIMCLR_DATA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

#define SAFETENSORS_NAME_MAX 128
#define SAFETENSORS_MAX_DIMS 8

typedef enum safetensors_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32, ST_I64, ST_U64,
    ST_F64
} safetensors_dtype;

typedef struct safetensors_tensor {
    char name[SAFETENSORS_NAME_MAX];
    safetensors_dtype dtype;
    int ndim;
    size_t shape[SAFETENSORS_MAX_DIMS];
    size_t begin, end;             /* byte range within the data section */
} safetensors_tensor;

typedef struct safetensors_metadata {
    char key[SAFETENSORS_NAME_MAX];
    char value[256];
} safetensors_metadata;

typedef struct safetensors_file {
    uint8_t *bytes;                /* the whole file */
    size_t size;
    const uint8_t *data;           /* the data section */
    size_t data_size;
    safetensors_tensor *tensors;
    size_t count;
    safetensors_metadata *metadata;
    size_t metadata_count;
} safetensors_file;

int safetensors_read(safetensors_file *file, const char *path, simclr_error *err);
/* The same from bytes already in memory (copied); `name` names the source in errors. */
int safetensors_parse(safetensors_file *file, const uint8_t *bytes, size_t size, const char *name,
                      simclr_error *err);
/* The same without a copy: the file refers to `bytes`, which must outlive it (a model held in
 * read-only memory, say); safetensors_free then frees only the tables. */
int safetensors_view(safetensors_file *file, const uint8_t *bytes, size_t size, const char *name,
                     simclr_error *err);
void safetensors_free(safetensors_file *file);

const safetensors_tensor *safetensors_find(const safetensors_file *file, const char *name);
const char *safetensors_metadata_value(const safetensors_file *file, const char *key);

/* Copies an F32 tensor into out (its element count of floats), converting from little-endian. */
int safetensors_copy_f32(const safetensors_file *file, const safetensors_tensor *entry,
                         float *out, simclr_error *err);

/* One tensor to write: F32, I64 or U8 values (exactly one of the three pointers set). */
typedef struct safetensors_entry {
    const char *name;
    int ndim;
    size_t shape[SAFETENSORS_MAX_DIMS];
    const float *f32;
    const int64_t *i64;
    const uint8_t *u8;
} safetensors_entry;

/* The file's bytes in a new buffer (freed with simclr_free): the header, then the tensors in
 * the order given, contiguously; `name` names the file in errors. */
int safetensors_encode(const safetensors_entry *entries, size_t count,
                       const safetensors_metadata *metadata, size_t metadata_count,
                       const char *name, uint8_t **bytes, size_t *size, simclr_error *err);
/* The same bytes written to path, atomically (data/file_io.h). */
int safetensors_write(const char *path, const safetensors_entry *entries, size_t count,
                      const safetensors_metadata *metadata, size_t metadata_count,
                      simclr_error *err);

#endif
