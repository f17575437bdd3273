/*
 * nn/params.c — the flat parameter store and its name table. See nn/params.h.
 */
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "memory.h"
#include "tensor.h"

void param_store_init(param_store *store)
{
    memset(store, 0, sizeof *store);
}

int param_role_is_trainable(param_role role)
{
    return role == PARAM_CONV_WEIGHT || role == PARAM_LINEAR_WEIGHT ||
           role == PARAM_LINEAR_BIAS || role == PARAM_BN_WEIGHT || role == PARAM_BN_BIAS;
}

int param_store_add(param_store *store, const char *prefix, const char *name, param_role role,
                    int ndim, const size_t *shape, size_t fan_in, size_t *offset,
                    simclr_error *err)
{
    param_entry *entry;
    size_t count;
    int d;
    if (store->params != NULL)
        return simclr_fail(err, "params: '%s%s' added after allocation", prefix, name);
    if (ndim < 0 || ndim > 4 || tensor_element_count(ndim, shape, &count, err) != SIMCLR_OK)
        return simclr_fail(err, "params: '%s%s' has a bad shape", prefix, name);
    if (strlen(prefix) + strlen(name) >= PARAM_NAME_MAX)
        return simclr_fail(err, "params: the name '%s%s' is too long", prefix, name);
    if (store->count == store->capacity) {
        size_t capacity = store->capacity ? 2 * store->capacity : 64;
        param_entry *grown = simclr_calloc(capacity, sizeof *grown, "params: table", err);
        if (grown == NULL)
            return SIMCLR_FAILED;
        if (store->count > 0)
            memcpy(grown, store->entries, store->count * sizeof *grown);
        simclr_free(store->entries);
        store->entries = grown;
        store->capacity = capacity;
    }
    entry = &store->entries[store->count];
    memset(entry, 0, sizeof *entry);
    sprintf(entry->name, "%s%s", prefix, name);
    entry->role = role;
    entry->ndim = ndim;
    for (d = 0; d < ndim; d++)
        entry->shape[d] = shape[d];
    entry->count = count;
    entry->fan_in = fan_in;
    if (param_role_is_trainable(role)) {
        entry->offset = store->param_floats;
        if (size_add_checked(store->param_floats, count, &store->param_floats) != SIMCLR_OK)
            return simclr_fail(err, "params: the total size overflows size_t");
    } else if (role == BUFFER_NUM_BATCHES_TRACKED) {
        entry->offset = store->counter_count++;
    } else {
        entry->offset = store->buffer_floats;
        if (size_add_checked(store->buffer_floats, count, &store->buffer_floats) != SIMCLR_OK)
            return simclr_fail(err, "params: the total size overflows size_t");
    }
    *offset = entry->offset;
    store->count++;
    return SIMCLR_OK;
}

/* The buffers of the planned entries; gradients only when `with_grads`. */
static int allocate(param_store *store, int with_grads, simclr_error *err)
{
    store->params = simclr_calloc(store->param_floats, sizeof(float), "params", err);
    store->grads = with_grads ? simclr_calloc(store->param_floats, sizeof(float),
                                              "params: gradients", err)
                              : NULL;
    store->buffers = simclr_calloc(store->buffer_floats, sizeof(float), "params: buffers", err);
    store->counters = simclr_calloc(store->counter_count, sizeof(int64_t), "params: counters",
                                    err);
    if (store->params == NULL || (with_grads && store->grads == NULL) || store->buffers == NULL ||
        store->counters == NULL) {
        simclr_free(store->params), simclr_free(store->grads);
        simclr_free(store->buffers), simclr_free(store->counters);
        store->params = store->grads = store->buffers = NULL;
        store->counters = NULL;
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int param_store_allocate(param_store *store, simclr_error *err)
{
    return allocate(store, 1, err);
}

int param_store_allocate_inference(param_store *store, simclr_error *err)
{
    return allocate(store, 0, err);
}

void param_store_init_torchvision(param_store *store, uint64_t seed)
{
    rng random;
    size_t e, i;
    rng_stream(&random, seed, RNG_DOMAIN_INIT, 0, 0, 0);
    for (e = 0; e < store->count; e++) {
        const param_entry *entry = &store->entries[e];
        float *values = param_role_is_trainable(entry->role) ? store->params + entry->offset
                                                             : store->buffers + entry->offset;
        switch (entry->role) {
        case PARAM_CONV_WEIGHT: {
            const double fan_out = (double)(entry->shape[0] * entry->shape[2] * entry->shape[3]);
            const float std = (float)sqrt(2.0 / fan_out);
            for (i = 0; i < entry->count; i++)
                values[i] = std * rng_normal(&random);
            break;
        }
        case PARAM_LINEAR_WEIGHT:
        case PARAM_LINEAR_BIAS: {
            const float bound = (float)(1.0 / sqrt((double)entry->fan_in));
            for (i = 0; i < entry->count; i++)
                values[i] = rng_uniform_range(&random, -bound, bound);
            break;
        }
        case PARAM_BN_WEIGHT:
        case BUFFER_RUNNING_VAR:
            for (i = 0; i < entry->count; i++)
                values[i] = 1.0f;
            break;
        case PARAM_BN_BIAS:
        case BUFFER_RUNNING_MEAN:
            for (i = 0; i < entry->count; i++)
                values[i] = 0.0f;
            break;
        case BUFFER_NUM_BATCHES_TRACKED:
            store->counters[entry->offset] = 0;
            break;
        }
    }
}

size_t param_store_trainable_count(const param_store *store)
{
    return store->param_floats;
}

const param_entry *param_store_find(const param_store *store, const char *name)
{
    size_t e;
    for (e = 0; e < store->count; e++)
        if (strcmp(store->entries[e].name, name) == 0)
            return &store->entries[e];
    return NULL;
}

void param_store_destroy(param_store *store)
{
    simclr_free(store->entries);
    simclr_free(store->params);
    simclr_free(store->grads);
    simclr_free(store->buffers);
    simclr_free(store->counters);
    memset(store, 0, sizeof *store);
}
