/*
 * nn/optim.c — SGD, LARS and the warm-up + cosine schedule. Definitions: nn/optim.h.
 */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "maths.h"
#include "memory.h"
#include "parallel.h"

int optimizer_parse(const char *name, optimizer_kind *kind, simclr_error *err)
{
    if (strcmp(name, "sgd") == 0)
        *kind = OPTIMIZER_SGD;
    else if (strcmp(name, "lars") == 0)
        *kind = OPTIMIZER_LARS;
    else
        return simclr_fail(err, "unknown optimizer '%s' (choose sgd or lars)", name);
    return SIMCLR_OK;
}

const char *optimizer_name(optimizer_kind kind)
{
    return kind == OPTIMIZER_LARS ? "lars" : "sgd";
}

int lr_scaling_parse(const char *name, lr_scaling *scaling, simclr_error *err)
{
    if (strcmp(name, "linear") == 0)
        *scaling = LR_SCALING_LINEAR;
    else if (strcmp(name, "sqrt") == 0)
        *scaling = LR_SCALING_SQRT;
    else
        return simclr_fail(err, "unknown learning-rate scaling '%s' (choose linear or sqrt)", name);
    return SIMCLR_OK;
}

int optimizer_create(optimizer *opt, const optimizer_config *config, const param_store *store,
                     simclr_error *err)
{
    memset(opt, 0, sizeof *opt);
    opt->config = *config;
    opt->param_floats = store->param_floats;
    opt->velocity = simclr_calloc(store->param_floats, sizeof(float), "optimizer: velocity", err);
    return opt->velocity != NULL ? SIMCLR_OK : SIMCLR_FAILED;
}

void optimizer_destroy(optimizer *opt)
{
    simclr_free(opt->velocity);
    memset(opt, 0, sizeof *opt);
}

int lars_excludes(param_role role)
{
    return role == PARAM_BN_WEIGHT || role == PARAM_BN_BIAS || role == PARAM_LINEAR_BIAS;
}

static void sgd_step(optimizer *opt, param_store *store, float lr)
{
    const float m = opt->config.momentum, wd = opt->config.weight_decay;
    float *w = store->params, *buf = opt->velocity;
    const float *g = store->grads;
    size_t i;
    if (opt->config.nesterov) {
        PARALLEL_FOR()
        for (i = 0; i < store->param_floats; i++) {
            const float d = g[i] + wd * w[i];
            buf[i] = m * buf[i] + d;
            w[i] -= lr * (d + m * buf[i]);
        }
        return;
    }
    PARALLEL_FOR()
    for (i = 0; i < store->param_floats; i++) {
        const float d = g[i] + wd * w[i];
        buf[i] = m * buf[i] + d;
        w[i] -= lr * buf[i];
    }
}

static void lars_step_entry(optimizer *opt, param_store *store, const param_entry *entry,
                            float lr)
{
    const float m = opt->config.momentum;
    const int excluded = lars_excludes(entry->role);
    const float wd = excluded ? 0.0f : opt->config.weight_decay;
    float *w = store->params + entry->offset, *v = opt->velocity + entry->offset;
    const float *g = store->grads + entry->offset;
    double w_squares = 0.0, g_squares = 0.0;
    float trust = 1.0f;
    size_t i;
    if (!excluded) {
        for (i = 0; i < entry->count; i++) {
            const double decayed = (double)g[i] + (double)wd * w[i];
            w_squares += (double)w[i] * w[i];
            g_squares += decayed * decayed;
        }
        if (w_squares > 0.0 && g_squares > 0.0)
            trust = (float)(opt->config.lars_eta * sqrt(w_squares) / sqrt(g_squares));
    }
    for (i = 0; i < entry->count; i++) {
        const float decayed = g[i] + wd * w[i];
        v[i] = m * v[i] + lr * trust * decayed;
        w[i] -= v[i];
    }
}

void optimizer_step(optimizer *opt, param_store *store, float lr)
{
    size_t e;
    if (opt->config.kind == OPTIMIZER_SGD) {
        sgd_step(opt, store, lr);
        return;
    }
    PARALLEL_FOR()
    for (e = 0; e < store->count; e++)
        if (param_role_is_trainable(store->entries[e].role))
            lars_step_entry(opt, store, &store->entries[e], lr);
}

double lr_schedule_scaled(const lr_schedule *schedule)
{
    return schedule->scaling == LR_SCALING_SQRT ? schedule->base_lr * sqrt((double)schedule->batch)
                                                : schedule->base_lr * (double)schedule->batch / 256.0;
}

double lr_schedule_at(const lr_schedule *schedule, size_t step)
{
    const double scaled = lr_schedule_scaled(schedule);
    const size_t W = schedule->warmup_steps, T = schedule->total_steps;
    double progress;
    if (step < W)
        return scaled * (double)step / (double)W;
    if (T <= W)
        return 0.0;
    progress = (double)(step - W) / (double)(T - W);
    if (progress > 1.0)
        progress = 1.0;
    return scaled * 0.5 * (1.0 + maths_cos_pi(progress));
}
