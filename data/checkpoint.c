/*
 * data/checkpoint.c — the checkpoint format: parameter store, optimiser state and log to and
 * from safetensors; see checkpoint.h.
 */
#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"

static const char *const log_names[3] = {"log.loss", "log.learning_rate",
                                         "log.views_per_second"};

/* The index of the first value that is NaN or ±inf, or count when all are finite. */
static size_t first_non_finite(const float *values, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++)
        if (!isfinite(values[i]))
            return i;
    return count;
}

/* Fails, naming the tensor, when one of its values is not finite. */
static int check_finite(const float *values, size_t count, const char *path, const char *tensor,
                        const char *doing, simclr_error *err)
{
    const size_t at = first_non_finite(values, count);
    if (at == count)
        return SIMCLR_OK;
    return simclr_fail(err, "%s: %s: tensor '%s' holds %s at element %lu (a diverged run?)",
                       path, doing, tensor, values[at] != values[at] ? "NaN" : "an infinity",
                       (unsigned long)at);
}

int checkpoint_check_finite(const param_store *store, const float *velocity, const char *source,
                            simclr_error *err)
{
    char name[SAFETENSORS_NAME_MAX + 32];
    size_t i;
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        if (e->role == BUFFER_NUM_BATCHES_TRACKED)
            continue;
        if (check_finite(param_role_is_trainable(e->role) ? store->params + e->offset
                                                          : store->buffers + e->offset,
                         e->count, source, e->name, "the model's state", err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        snprintf(name, sizeof name, "optimizer.%s.momentum", e->name);
        if (velocity != NULL && param_role_is_trainable(e->role) &&
            check_finite(velocity + e->offset, e->count, source, name, "the model's state",
                         err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

static int has_prefix(const char *name, const char *prefix)
{
    return prefix == NULL || strncmp(name, prefix, strlen(prefix)) == 0;
}

int checkpoint_write(const char *path, const param_store *store, const char *prefix,
                     const float *velocity, const training_log *log,
                     const safetensors_metadata *metadata, size_t metadata_count,
                     simclr_error *err)
{
    safetensors_entry *entries;
    char (*names)[SAFETENSORS_NAME_MAX];
    size_t count = 0, named = 0, i;
    int status;
    char accuracy_name[TRAINING_LOG_NAME_MAX + 8];
    entries = simclr_calloc(2 * store->count + 4, sizeof *entries, "checkpoint: table", err);
    names = simclr_calloc(store->count + 1, sizeof *names, "checkpoint: names", err);
    if (entries == NULL || names == NULL) {
        simclr_free(entries);
        simclr_free(names);
        return SIMCLR_FAILED;
    }
    /* the model's state, in the store's (torchvision's) order */
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        safetensors_entry *out = &entries[count];
        if (!has_prefix(e->name, prefix))
            continue;
        out->name = e->name;
        out->ndim = e->ndim;
        memcpy(out->shape, e->shape, sizeof e->shape);
        if (e->role == BUFFER_NUM_BATCHES_TRACKED)
            out->i64 = store->counters + e->offset;
        else if (param_role_is_trainable(e->role))
            out->f32 = store->params + e->offset;
        else
            out->f32 = store->buffers + e->offset;
        if (out->f32 != NULL &&
            check_finite(out->f32, e->count, path, e->name, "not written", err) != SIMCLR_OK) {
            simclr_free(entries);
            simclr_free(names);
            return SIMCLR_FAILED;
        }
        count++;
    }
    /* the optimiser's velocity, parameter by parameter */
    for (i = 0; velocity != NULL && i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        safetensors_entry *out = &entries[count];
        if (!param_role_is_trainable(e->role) || !has_prefix(e->name, prefix))
            continue;
        snprintf(names[named], SAFETENSORS_NAME_MAX, "optimizer.%s.momentum", e->name);
        out->name = names[named++];
        if (check_finite(velocity + e->offset, e->count, path, out->name, "not written",
                         err) != SIMCLR_OK) {
            simclr_free(entries);
            simclr_free(names);
            return SIMCLR_FAILED;
        }
        out->ndim = e->ndim;
        memcpy(out->shape, e->shape, sizeof e->shape);
        out->f32 = velocity + e->offset;
        count++;
    }
    if (log != NULL && log->steps > 0) {
        const float *const rows[3] = {log->loss, log->learning_rate, log->views_per_second};
        for (i = 0; i < 3; i++) {
            safetensors_entry *out = &entries[count++];
            out->name = log_names[i];
            out->ndim = 1;
            out->shape[0] = log->steps;
            out->f32 = rows[i];
        }
        if (log->accuracy != NULL) {
            safetensors_entry *out = &entries[count++];
            sprintf(accuracy_name, "log.%s", log->accuracy_name);
            out->name = accuracy_name;
            out->ndim = 1;
            out->shape[0] = log->steps;
            out->f32 = log->accuracy;
        }
    }
    status = safetensors_write(path, entries, count, metadata, metadata_count, err);
    simclr_free(entries);
    simclr_free(names);
    return status;
}

/* Checks that a file's tensor has the entry's dtype and shape. */
static int tensor_matches(const safetensors_tensor *stored, const param_entry *entry,
                          safetensors_dtype dtype, const char *path, simclr_error *err)
{
    int d;
    if (stored->dtype != dtype || stored->ndim != entry->ndim)
        return simclr_fail(err, "%s: tensor '%s' has the wrong dtype or rank", path, entry->name);
    for (d = 0; d < entry->ndim; d++)
        if (stored->shape[d] != entry->shape[d])
            return simclr_fail(err, "%s: tensor '%s' has dimension %d of %lu, the model %lu",
                               path, entry->name, d, (unsigned long)stored->shape[d],
                               (unsigned long)entry->shape[d]);
    return SIMCLR_OK;
}

int checkpoint_load_entries(param_store *store, size_t first, size_t count,
                            const safetensors_file *file, const char *file_prefix,
                            const char *path, simclr_error *err)
{
    char name[SAFETENSORS_NAME_MAX + 64];
    size_t i;
    for (i = first; i < first + count && i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        const safetensors_tensor *stored;
        snprintf(name, sizeof name, "%s%s", file_prefix, e->name);
        if ((stored = safetensors_find(file, name)) == NULL)
            return simclr_fail(err, "%s: the model's tensor '%s' is missing", path, name);
        if (e->role == BUFFER_NUM_BATCHES_TRACKED) {
            const uint8_t *bytes;
            uint64_t value = 0;
            int b;
            if (tensor_matches(stored, e, ST_I64, path, err) != SIMCLR_OK)
                return SIMCLR_FAILED;
            bytes = file->data + stored->begin;
            for (b = 7; b >= 0; b--) /* little-endian on every platform */
                value = value << 8 | bytes[b];
            store->counters[e->offset] = (int64_t)value;
            continue;
        }
        if (tensor_matches(stored, e, ST_F32, path, err) != SIMCLR_OK ||
            safetensors_copy_f32(file, stored,
                                 param_role_is_trainable(e->role) ? store->params + e->offset
                                                                  : store->buffers + e->offset,
                                 err) != SIMCLR_OK ||
            check_finite(param_role_is_trainable(e->role) ? store->params + e->offset
                                                          : store->buffers + e->offset,
                         e->count, path, name, "rejected", err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int checkpoint_load_store(param_store *store, const safetensors_file *file, const char *path,
                          simclr_error *err)
{
    return checkpoint_load_entries(store, 0, store->count, file, "", path, err);
}

int checkpoint_load_velocity(float *velocity, const param_store *store,
                             const safetensors_file *file, const char *path, simclr_error *err)
{
    char name[SAFETENSORS_NAME_MAX + 32];
    size_t i;
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        const safetensors_tensor *stored;
        if (!param_role_is_trainable(e->role))
            continue;
        snprintf(name, sizeof name, "optimizer.%s.momentum", e->name);
        stored = safetensors_find(file, name);
        if (stored == NULL)
            return simclr_fail(err, "%s: the optimiser state '%s' is missing", path, name);
        if (tensor_matches(stored, e, ST_F32, path, err) != SIMCLR_OK ||
            safetensors_copy_f32(file, stored, velocity + e->offset, err) != SIMCLR_OK ||
            check_finite(velocity + e->offset, e->count, path, name, "rejected", err) !=
                SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int checkpoint_load_log(training_log *log, size_t steps, const safetensors_file *file,
                        const char *path, simclr_error *err)
{
    float *const rows[4] = {log->loss, log->learning_rate, log->views_per_second, log->accuracy};
    char accuracy_name[TRAINING_LOG_NAME_MAX + 8];
    const char *names[4];
    size_t i;
    sprintf(accuracy_name, "log.%s", log->accuracy_name);
    names[0] = log_names[0], names[1] = log_names[1], names[2] = log_names[2];
    names[3] = accuracy_name;
    if (steps > log->capacity)
        return simclr_fail(err, "%s is at step %lu, beyond the %lu steps of the run", path,
                           (unsigned long)steps, (unsigned long)log->capacity);
    for (i = 0; steps > 0 && i < (log->accuracy != NULL ? 4u : 3u); i++) {
        const safetensors_tensor *stored = safetensors_find(file, names[i]);
        if (stored == NULL || stored->dtype != ST_F32 || stored->ndim != 1 ||
            stored->shape[0] != steps)
            return simclr_fail(err, "%s: '%s' is missing or not %lu floats", path, names[i],
                               (unsigned long)steps);
        if (safetensors_copy_f32(file, stored, rows[i], err) != SIMCLR_OK)
            return SIMCLR_FAILED;
    }
    log->steps = steps;
    return SIMCLR_OK;
}

int training_log_create(training_log *log, size_t capacity, simclr_error *err)
{
    memset(log, 0, sizeof *log);
    log->capacity = capacity;
    log->loss = simclr_calloc(capacity + 1, sizeof(float), "log: losses", err);
    log->learning_rate = simclr_calloc(capacity + 1, sizeof(float), "log: learning rates", err);
    log->views_per_second = simclr_calloc(capacity + 1, sizeof(float), "log: speeds", err);
    if (log->loss == NULL || log->learning_rate == NULL || log->views_per_second == NULL) {
        training_log_destroy(log);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int training_log_keep_accuracy(training_log *log, const char *name, simclr_error *err)
{
    size_t i;
    if (strlen(name) >= TRAINING_LOG_NAME_MAX)
        return simclr_fail(err, "log: '%s' is too long a name", name);
    simclr_free(log->accuracy);
    log->accuracy = simclr_calloc(log->capacity + 1, sizeof(float), "log: accuracies", err);
    if (log->accuracy == NULL)
        return SIMCLR_FAILED;
    for (i = 0; i <= log->capacity; i++)
        log->accuracy[i] = (float)NAN;
    strcpy(log->accuracy_name, name);
    return SIMCLR_OK;
}

void training_log_record(training_log *log, const training_progress *p, double items)
{
    const size_t row = p->step - 1;
    log->loss[row] = p->loss;
    log->learning_rate[row] = (float)p->learning_rate;
    log->views_per_second[row] = (float)(items / (p->seconds > 0 ? p->seconds : 1e-9));
    if (log->accuracy != NULL)
        log->accuracy[row] = (float)p->accuracy;
    log->steps = p->step;
}

double training_log_mean_accuracy(const training_log *log, size_t from, size_t to)
{
    double sum = 0.0;
    size_t i;
    for (i = from; i < to; i++)
        sum += (double)log->accuracy[i];
    return sum / (double)(to - from);
}

void training_log_destroy(training_log *log)
{
    simclr_free(log->accuracy);
    simclr_free(log->loss);
    simclr_free(log->learning_rate);
    simclr_free(log->views_per_second);
    memset(log, 0, sizeof *log);
}
