/*
 * nn/params.h — a model's state in flat buffers, with a table of names, shapes and offsets.
 *
 * Every trainable tensor lives in one flat float buffer `params`, and its gradient at the same
 * offset in `grads`, so an optimiser is one loop over the table (llm.c's layout). Batchnorm
 * running statistics live in `buffers` and the num_batches_tracked counters in `counters`: state
 * that checkpoints keep but optimisers never touch. The table lists every entry in the order
 * torchvision's state_dict() would, with the same names (conv1.weight, bn1.running_mean,
 * layer1.0.conv1.weight, …, projection_head.layers.0.weight, …), so checkpoints move
 * to and from PyTorch by name.
 *
 * Life cycle: a model first *plans* its state with param_store_add (which only records the entry
 * and returns its future offset), then param_store_allocate makes the buffers (zero-filled), then
 * param_store_init_torchvision draws the initial values. Layers keep offsets, not pointers.
 *
 * Initialisation (torchvision's ResNet and PyTorch's defaults), drawn entry by entry
 * in table order, element by element, from one stream (rng_stream(seed, "init", 0, 0, 0)):
 *   conv weight     normal(0, std) with std = sqrt(2 / fan_out), fan_out = O·k·k
 *                   (kaiming_normal_, mode "fan_out", nonlinearity "relu")
 *   linear weight   uniform(−1/sqrt(fan_in), 1/sqrt(fan_in))   (PyTorch nn.Linear default)
 *   linear bias     uniform(−1/sqrt(fan_in), 1/sqrt(fan_in))
 *   bn weight 1, bn bias 0, running_mean 0, running_var 1, num_batches_tracked 0 (no draws)
 */
#ifndef SIMCLR_NN_PARAMS_H
#define SIMCLR_NN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"

#define PARAM_NAME_MAX 96

typedef enum param_role {
    PARAM_CONV_WEIGHT,          /* (O, C, k, k) in params */
    PARAM_LINEAR_WEIGHT,        /* (out, in) in params */
    PARAM_LINEAR_BIAS,          /* (out) in params */
    PARAM_BN_WEIGHT,            /* (C) in params */
    PARAM_BN_BIAS,              /* (C) in params */
    BUFFER_RUNNING_MEAN,        /* (C) in buffers */
    BUFFER_RUNNING_VAR,         /* (C) in buffers */
    BUFFER_NUM_BATCHES_TRACKED  /* () one int64 in counters */
} param_role;

typedef struct param_entry {
    char name[PARAM_NAME_MAX]; /* e.g. "backbone.layer1.0.conv1.weight" */
    param_role role;
    int ndim;                  /* 0 for num_batches_tracked */
    size_t shape[4];
    size_t count;              /* elements */
    size_t offset;             /* into params, buffers or counters, by role */
    size_t fan_in;             /* for linear weight and bias: in_features */
} param_entry;

typedef struct param_store {
    param_entry *entries;
    size_t count, capacity;
    float *params;          /* (param_floats) trainable values */
    float *grads;           /* (param_floats) their gradients, same layout */
    size_t param_floats;
    float *buffers;         /* (buffer_floats) running statistics */
    size_t buffer_floats;
    int64_t *counters;      /* (counter_count) num_batches_tracked */
    size_t counter_count;
} param_store;

/* An empty store, ready for planning. */
void param_store_init(param_store *store);

/* Plans one entry named prefix + name; *offset receives where it will live. */
int param_store_add(param_store *store, const char *prefix, const char *name, param_role role,
                    int ndim, const size_t *shape, size_t fan_in, size_t *offset,
                    simclr_error *err);

/* Allocates params, grads, buffers and counters (zero-filled) for the planned entries. */
int param_store_allocate(param_store *store, simclr_error *err);

/* The same without gradients (grads stays NULL): for a network that only runs forward. */
int param_store_allocate_inference(param_store *store, simclr_error *err);

/* Draws the initial values described above from the (seed, "init") stream. */
void param_store_init_torchvision(param_store *store, uint64_t seed);

/* Whether a role is trainable (lives in params/grads). */
int param_role_is_trainable(param_role role);

/* Trainable element count (what torchvision's sum(p.numel() for p in parameters()) counts). */
size_t param_store_trainable_count(const param_store *store);

/* The entry with this exact name, or NULL. */
const param_entry *param_store_find(const param_store *store, const char *name);

void param_store_destroy(param_store *store);

#endif
