/*
 * nn/optim.h — optimisers and the learning-rate schedule.
 *
 * SGD, as torch.optim.SGD(momentum=m, weight_decay=wd, dampening=0, nesterov=N):
 *     d = g + wd·w;   buf = m·buf + d   (buf starts at 0, so the first step gives buf = d);
 *     w −= lr·buf                 (N false: classic momentum)
 *     w −= lr·(d + m·buf)         (N true: Nesterov momentum, as torch writes it; the
 *                                  fine-tuning of the paper's Appendix B.5)
 *   Weight decay applies to every parameter, as torch does unless told otherwise.
 * LARS, as the official SimCLR code (google-research/simclr, lars_optimizer.py, classic momentum,
 * no Nesterov), η = 0.001:
 *     for every parameter tensor w (an entry of the param_store) that is not a batchnorm weight
 *     or bias and not a bias:
 *         g ← g + wd·w;   trust = η‖w‖/‖g‖ if ‖w‖ > 0 and ‖g‖ > 0, else 1
 *     for the excluded ones: no weight decay and trust = 1;
 *     v = m·v + lr·trust·g;   w −= v
 *   Norms are per tensor, accumulated in double.
 * Both update every trainable entry of the store in place and leave the gradients as they were.
 *
 * Learning rate (official SimCLR code; paper Appendix B.1):
 *     scaled = base·B/256 (linear scaling) or base·sqrt(B) (square-root scaling)
 *     lr(t) = scaled · t / W                               for t < W (linear warm-up from 0)
 *           = scaled · ½(1 + cos(π (t − W)/(T − W)))        for W <= t <= T (cosine to 0)
 *   with t the step index (0-based), W the warm-up steps and T the total steps; when T <= W the
 *   cosine part is taken as finished (lr = 0 after warm-up).
 */
#ifndef SIMCLR_NN_OPTIM_H
#define SIMCLR_NN_OPTIM_H

#include <stddef.h>

#include "error.h"
#include "params.h"

typedef enum optimizer_kind { OPTIMIZER_SGD = 0, OPTIMIZER_LARS = 1 } optimizer_kind;
typedef enum lr_scaling { LR_SCALING_LINEAR = 0, LR_SCALING_SQRT = 1 } lr_scaling;

typedef struct optimizer_config {
    optimizer_kind kind;
    float momentum;     /* m, e.g. 0.9 */
    float weight_decay; /* wd, e.g. 1e-6 for LARS (paper), 5e-4 for SGD on CIFAR */
    float lars_eta;     /* η, 0.001 */
    int nesterov;       /* SGD only: 1 Nesterov momentum, 0 classic (the default) */
} optimizer_config;

typedef struct optimizer {
    optimizer_config config;
    float *velocity;     /* (param_floats) buf of SGD, v of LARS; same layout as params */
    size_t param_floats;
} optimizer;

typedef struct lr_schedule {
    double base_lr;
    lr_scaling scaling;
    size_t batch;         /* B, images per step */
    size_t warmup_steps;  /* W */
    size_t total_steps;   /* T */
} lr_schedule;

int optimizer_parse(const char *name, optimizer_kind *kind, simclr_error *err);
const char *optimizer_name(optimizer_kind kind);
int lr_scaling_parse(const char *name, lr_scaling *scaling, simclr_error *err);

/* Allocates the velocity (zero) for the store's trainable parameters. */
int optimizer_create(optimizer *opt, const optimizer_config *config, const param_store *store,
                     simclr_error *err);
void optimizer_destroy(optimizer *opt);

/* One update of every trainable parameter with learning rate lr. */
void optimizer_step(optimizer *opt, param_store *store, float lr);

/* Whether LARS leaves this entry out of weight decay and trust scaling (BN parameters, biases). */
int lars_excludes(param_role role);

/* scaled learning rate and lr(t) as above. */
double lr_schedule_scaled(const lr_schedule *schedule);
double lr_schedule_at(const lr_schedule *schedule, size_t step);

#endif
