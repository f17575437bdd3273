/*
 * eval/golden_case.c — one reference case being assembled and written, and README.txt; see
 * golden_case.h.
 */
#include "golden_case.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/safetensors.h"
#include "../nn/memory.h"
#include "../nn/rng.h"
#include "golden_margin.h"

#define GOLDEN_MAX_TENSORS 1024
#define GOLDEN_MAX_METADATA 48
#define GOLDEN_README_MAX 65536

/* One case being assembled: its tensors (owned here) and metadata. */
struct golden_case {
    golden_sink sink;                         /* where finished files go */
    void *sink_context;
    char readme[GOLDEN_README_MAX];           /* README.txt, written at the end */
    size_t readme_length;
    uint64_t number;                          /* the case's index: its input streams */
    safetensors_entry entries[GOLDEN_MAX_TENSORS];
    char names[GOLDEN_MAX_TENSORS][SAFETENSORS_NAME_MAX];
    void *owned[GOLDEN_MAX_TENSORS];
    size_t count;
    safetensors_metadata metadata[GOLDEN_MAX_METADATA];
    size_t metadata_count;
    int failed;                               /* an allocation failed */
    double margin_minimum;                    /* smallest relu_margin of the training cases */
    size_t margin_cases;                      /* training cases measured */
    simclr_error *err;
};

void golden_case_begin(golden_case *g, const char *op)
{
    g->count = 0;
    g->metadata_count = 0;
    g->failed = 0;
    g->number++;
    strcpy(g->metadata[0].key, "op");
    snprintf(g->metadata[0].value, sizeof g->metadata[0].value, "%s", op);
    g->metadata_count = 1;
}

void golden_case_meta(golden_case *g, const char *key, const char *format, ...)
{
    va_list args;
    if (g->metadata_count >= GOLDEN_MAX_METADATA)
        return;
    snprintf(g->metadata[g->metadata_count].key, SAFETENSORS_NAME_MAX, "%s", key);
    va_start(args, format);
    vsnprintf(g->metadata[g->metadata_count].value, sizeof g->metadata[0].value, format, args);
    va_end(args);
    g->metadata_count++;
}

/* Adds an entry (F32 or I64) whose memory `owned` the case frees when written (NULL: none). */
static void case_entry(golden_case *g, const char *name, int ndim, const size_t *shape,
                       const float *f32, const int64_t *i64, void *owned)
{
    safetensors_entry *e;
    int d;
    if (g->count >= GOLDEN_MAX_TENSORS) {
        g->failed = 1;
        simclr_free(owned);
        return;
    }
    e = &g->entries[g->count];
    memset(e, 0, sizeof *e);
    snprintf(g->names[g->count], SAFETENSORS_NAME_MAX, "%s", name);
    e->name = g->names[g->count];
    e->ndim = ndim;
    for (d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->f32 = f32;
    e->i64 = i64;
    g->owned[g->count] = owned;
    g->count++;
}

/* A new zeroed float tensor named `name` of the given shape, owned by the case. */
float *golden_case_tensor(golden_case *g, const char *name, int ndim, size_t d0, size_t d1,
                          size_t d2, size_t d3)
{
    const size_t dims[4] = {d0, d1, d2, d3};
    size_t count = 1;
    int d;
    float *data;
    for (d = 0; d < ndim; d++)
        count *= dims[d];
    data = simclr_calloc(count > 0 ? count : 1, sizeof(float), "golden: tensor", g->err);
    if (data == NULL) {
        g->failed = 1;
        return NULL;
    }
    case_entry(g, name, ndim, dims, data, NULL, data);
    return g->failed ? NULL : data;
}

/* A new zeroed int64 tensor (flags, indices, raw draws), owned by the case. */
int64_t *golden_case_int_tensor(golden_case *g, const char *name, int ndim, size_t d0, size_t d1)
{
    const size_t dims[2] = {d0, d1};
    size_t count = ndim >= 1 ? d0 : 1;
    int64_t *data;
    if (ndim == 2)
        count *= d1;
    data = simclr_calloc(count > 0 ? count : 1, sizeof(int64_t), "golden: tensor", g->err);
    if (data == NULL) {
        g->failed = 1;
        return NULL;
    }
    case_entry(g, name, ndim, dims, NULL, data, data);
    return g->failed ? NULL : data;
}

/* Appends to README.txt (silently cut at its capacity, which the cases stay far below). */
void golden_readme(golden_case *g, const char *format, ...)
{
    va_list args;
    int written;
    if (g->readme_length + 1 >= GOLDEN_README_MAX)
        return;
    va_start(args, format);
    written = vsnprintf(g->readme + g->readme_length, GOLDEN_README_MAX - g->readme_length,
                        format, args);
    va_end(args);
    if (written > 0)
        g->readme_length += (size_t)written;
    if (g->readme_length >= GOLDEN_README_MAX)
        g->readme_length = GOLDEN_README_MAX - 1;
}

/* Copies of a model's whole state under prefix (owned by the case). */
void golden_case_copy_store(golden_case *g, const char *prefix, const param_store *store)
{
    size_t i;
    char name[SAFETENSORS_NAME_MAX];
    for (i = 0; i < store->count && !g->failed; i++) {
        const param_entry *e = &store->entries[i];
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        if (e->role == BUFFER_NUM_BATCHES_TRACKED) {
            int64_t *copy = simclr_calloc(1, sizeof(int64_t), "golden: counter", g->err);
            if (copy == NULL) {
                g->failed = 1;
                return;
            }
            *copy = store->counters[e->offset];
            case_entry(g, name, 0, e->shape, NULL, copy, copy);
        } else {
            float *copy = golden_case_tensor(g, name, e->ndim, e->shape[0], e->shape[1], e->shape[2],
                                      e->shape[3]);
            if (copy == NULL)
                return;
            memcpy(copy,
                   (param_role_is_trainable(e->role) ? store->params : store->buffers) + e->offset,
                   e->count * sizeof(float));
        }
    }
}

void golden_case_copy_velocity(golden_case *g, const char *prefix, const param_store *store,
                               const float *velocity)
{
    size_t i;
    char name[SAFETENSORS_NAME_MAX];
    for (i = 0; i < store->count && !g->failed; i++) {
        const param_entry *e = &store->entries[i];
        float *copy;
        if (!param_role_is_trainable(e->role))
            continue;
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        copy = golden_case_tensor(g, name, e->ndim, e->shape[0], e->shape[1], e->shape[2],
                                  e->shape[3]);
        if (copy == NULL)
            return;
        memcpy(copy, velocity + e->offset, e->count * sizeof(float));
    }
}

void golden_case_abandon(golden_case *g)
{
    size_t i;
    for (i = 0; i < g->count; i++)
        simclr_free(g->owned[i]);
    g->count = 0;
}

void golden_note_margin(golden_case *g, double margin)
{
    if (g->margin_cases == 0 || margin < g->margin_minimum)
        g->margin_minimum = margin;
    g->margin_cases++;
}

simclr_error *golden_case_error(golden_case *g)
{
    return g->err;
}

/* Uniform values on [low, high) from the case's stream number `which`. */
void golden_case_fill(golden_case *g, float *x, size_t count, float low, float high,
                      uint64_t which)
{
    rng random;
    size_t i;
    rng_stream(&random, GOLDEN_SEED, RNG_DOMAIN_DATA, g->number, which, 0);
    for (i = 0; i < count; i++)
        x[i] = rng_uniform_range(&random, low, high);
}

/* Hands the case to the sink as name.safetensors, lists it in the README and frees its
 * tensors. */
int golden_case_finish(golden_case *g, const char *name)
{
    char file_name[SAFETENSORS_NAME_MAX + 16];
    uint8_t *bytes;
    size_t size, i;
    int status = SIMCLR_FAILED;
    if (!g->failed) {
        snprintf(file_name, sizeof file_name, "%s.safetensors", name);
        if (safetensors_encode(g->entries, g->count, g->metadata, g->metadata_count, file_name,
                               &bytes, &size, g->err) == SIMCLR_OK) {
            status = g->sink(file_name, bytes, size, g->sink_context, g->err);
            simclr_free(bytes);
        }
        if (status == SIMCLR_OK) {
            golden_readme(g, "%-44s", name);
            for (i = 0; i < g->metadata_count; i++)
                golden_readme(g, " %s=%s", g->metadata[i].key, g->metadata[i].value);
            golden_readme(g, "\n");
        }
    } else if (g->err->message[0] == '\0') {
        simclr_fail(g->err, "golden: case %s has too many tensors", name);
    }
    for (i = 0; i < g->count; i++)
        simclr_free(g->owned[i]);
    g->count = 0;
    return status;
}

golden_case *golden_case_create(golden_sink sink, void *context, simclr_error *err)
{
    golden_case *g = simclr_calloc(1, sizeof *g, "golden: case", err);
    if (g == NULL)
        return NULL;
    g->sink = sink;
    g->sink_context = context;
    g->err = err;
    return g;
}

void golden_case_fail(golden_case *g)
{
    g->failed = 1;
}

int golden_case_failed(const golden_case *g)
{
    return g->failed;
}

void golden_case_skip(golden_case *g)
{
    g->number++;
}

int golden_case_write_readme(golden_case *g)
{
    if (g->margin_cases > 0)
        golden_readme(g, "\nMargin: the smallest relu_margin of the %lu cases above that train a "
                         "model is %.6g\n(required: %g).\n",
                      (unsigned long)g->margin_cases, g->margin_minimum, GOLDEN_MARGIN);
    return g->sink("README.txt", (const uint8_t *)g->readme, g->readme_length, g->sink_context,
                   g->err);
}

void golden_case_destroy(golden_case *g)
{
    if (g != NULL)
        golden_case_abandon(g);
    simclr_free(g);
}
