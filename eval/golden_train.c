/*
 * eval/golden_train.c — the train_step, train_steps and end_to_end reference cases; see
 * golden_train.h. Every step is the library's own (simclr_batch_of_views, simclr_train_step
 * through golden_simclr); this file only chooses the inputs, measures the margin and records.
 */
#include "golden_train.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../nn/parallel.h"
#include "../simclr.h"
#include "golden_margin.h"

#define VIEW_SIDE 8

/* One case's recipe. */
typedef struct train_recipe {
    const char *op;            /* train_step, train_steps or end_to_end */
    size_t batch;              /* N */
    int separate;              /* views as two batches of N */
    optimizer_kind optimizer;
    float lr, momentum, weight_decay;
    size_t steps;
} train_recipe;

/* A model for the recipe: ResNet-18 at width 1/16, CIFAR stem, head 16 → 8, from seed 2020. */
static int recipe_model(simclr_model *model, const train_recipe *recipe, const golden_simclr *ops,
                        simclr_error *err)
{
    simclr_config config = simclr_config_default();
    config.batch = recipe->batch;
    config.channels = 3;
    config.height = config.width = VIEW_SIDE;
    config.seed = GOLDEN_SEED;
    config.views_forward = recipe->separate ? SIMCLR_VIEWS_SEPARATE : SIMCLR_VIEWS_JOINT;
    config.encoder.arch = RESNET18;
    config.encoder.stem = STEM_CIFAR;
    config.encoder.width = 0.0625;
    config.head.hidden_dim = 16;
    config.head.out_dim = 8;
    config.optimizer.kind = recipe->optimizer;
    config.optimizer.momentum = recipe->momentum;
    config.optimizer.weight_decay = recipe->weight_decay;
    return ops->model_create(model, &config, err);
}

/* The forward pass the next step will make, alone, to measure its ReLU inputs; the running
 * statistics and counters it updates are put back, so the step then runs as if it had not
 * been (forward passes are deterministic: the step's are the same bits). */
static int measure_next_step(golden_margin *margin, simclr_model *model, simclr_error *err)
{
    param_store *store = &model->store;
    const size_t N = model->config.batch;
    const size_t passes = model->config.views_forward == SIMCLR_VIEWS_SEPARATE ? 2 : 1;
    const size_t per_pass = 2 * N / passes;
    const size_t view_floats = model->config.channels * model->config.height * model->config.width;
    float *buffers = simclr_calloc(store->buffer_floats + 1, sizeof(float), "golden: buffers",
                                   err);
    int64_t *counters = simclr_calloc(store->counter_count + 1, sizeof(int64_t),
                                      "golden: counters", err);
    size_t p;
    if (buffers == NULL || counters == NULL) {
        simclr_free(buffers);
        simclr_free(counters);
        return SIMCLR_FAILED;
    }
    memcpy(buffers, store->buffers, store->buffer_floats * sizeof(float));
    memcpy(counters, store->counters, store->counter_count * sizeof(int64_t));
    for (p = 0; p < passes; p++) {
        resnet_forward(&model->encoder_acts[p], model->views + p * per_pass * view_floats,
                       &model->encoder, store, 1);
        if (golden_margin_resnet(margin, &model->encoder_acts[p], &model->encoder, store, 1,
                                 err) != SIMCLR_OK) {
            simclr_free(buffers);
            simclr_free(counters);
            return SIMCLR_FAILED;
        }
        projection_head_forward(&model->head_acts[p], model->encoder_acts[p].features,
                                &model->head, store, 1);
        golden_margin_head(margin, &model->head_acts[p], &model->head, store);
    }
    memcpy(store->buffers, buffers, store->buffer_floats * sizeof(float));
    memcpy(store->counters, counters, store->counter_count * sizeof(int64_t));
    simclr_free(buffers);
    simclr_free(counters);
    return SIMCLR_OK;
}

/* Step s (from 0) takes lr / 2^s: with a varying learning rate PyTorch's momentum
 * (buf = m·buf + g, w −= lr·buf) and the official code's (v = m·v + lr·g, w −= v) give
 * different weights from the second step on, not only different buffers. */
static float step_lr(const train_recipe *recipe, size_t s)
{
    return recipe->lr / (float)(1u << s);
}

/* Runs the recipe with step s on the views of epoch first_epoch + s (images 0 .. N-1 of
 * builtin:shapes), measuring every forward pass; records into g when g is not NULL. */
static int run_recipe(golden_case *g, const train_recipe *recipe, const golden_simclr *ops,
                      const dataset *shapes, size_t first_epoch, golden_margin *margin,
                      simclr_error *err)
{
    static const size_t first_images[6] = {0, 1, 2, 3, 4, 5}, other_images[4] = {6, 7, 8, 9};
    const size_t N = recipe->batch, C = 3, S = VIEW_SIDE, view_floats = N * C * S * S;
    const int end_to_end = strcmp(recipe->op, "end_to_end") == 0;
    const size_t *order = end_to_end ? other_images : first_images; /* (N) */
    const int one_step = recipe->steps == 1;
    simclr_model model;
    aug_config augment;
    aug_batch workspace;
    size_t s;
    int status;
    char prefix[32], name[64];
    golden_margin_init(margin);
    if (aug_config_preset(&augment, "cifar", err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    augment.size = S;
    if (recipe_model(&model, recipe, ops, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (aug_batch_create(&workspace, N, &augment, shapes, err) != SIMCLR_OK) {
        ops->model_destroy(&model);
        return SIMCLR_FAILED;
    }
    if (g != NULL) {
        golden_case_copy_store(g, "before.", &model.store);
        if (end_to_end) {
            float *images = golden_case_tensor(g, "images", 4, N, C, shapes->max_height,
                                               shapes->max_width);
            int64_t *indices = golden_case_int_tensor(g, "indices", 1, N, 0);
            if (images != NULL && indices != NULL)
                for (s = 0; s < N; s++) {
                    indices[s] = (int64_t)order[s];
                    (void)dataset_image(shapes, order[s],
                                        images + s * C * shapes->max_height * shapes->max_width,
                                        NULL);
                }
        }
    }
    status = SIMCLR_OK;
    for (s = 0; s < recipe->steps && status == SIMCLR_OK; s++) {
        float loss;
        status = ops->batch_of_views(&model, &workspace, shapes, order, 0, &augment,
                                     first_epoch + s, err);
        if (status == SIMCLR_OK)
            status = measure_next_step(margin, &model, err);
        if (status != SIMCLR_OK || (g == NULL && margin->minimum < GOLDEN_MARGIN))
            break; /* (a search that has failed already) */
        prefix[0] = '\0'; /* one step: the tensors' own names; several: step<k>.<name> */
        if (!one_step)
            snprintf(prefix, sizeof prefix, "step%lu.", (unsigned long)(s + 1));
        if (g != NULL) {
            float *v0, *v1;
            snprintf(name, sizeof name, "%sview0", prefix);
            v0 = golden_case_tensor(g, name, 4, N, C, S, S);
            snprintf(name, sizeof name, "%sview1", prefix);
            v1 = golden_case_tensor(g, name, 4, N, C, S, S);
            if (v0 != NULL && v1 != NULL) {
                memcpy(v0, model.views, view_floats * sizeof(float));
                memcpy(v1, model.views + view_floats, view_floats * sizeof(float));
            }
        }
        loss = ops->train_step(&model, step_lr(recipe, s));
        if (g != NULL) {
            float *value;
            snprintf(name, sizeof name, "%sloss", prefix);
            value = golden_case_tensor(g, name, 1, 1, 0, 0, 0);
            if (value != NULL)
                value[0] = loss;
            if (one_step) {
                golden_case_copy_store(g, "after.", &model.store);
            } else {
                golden_case_copy_store(g, prefix, &model.store);
                snprintf(name, sizeof name, "%smomentum.", prefix);
                golden_case_copy_velocity(g, name, &model.store, model.opt.velocity);
            }
        }
    }
    aug_batch_destroy(&workspace);
    ops->model_destroy(&model);
    return status;
}

static void recipe_metadata(golden_case *g, const train_recipe *recipe, size_t first_epoch,
                            size_t attempts, const golden_margin *margin)
{
    const int lars = recipe->optimizer == OPTIMIZER_LARS;
    golden_case_meta(g, "arch", "resnet18");
    golden_case_meta(g, "stem", "cifar");
    golden_case_meta(g, "width", "0.0625");
    golden_case_meta(g, "in_channels", "3");
    golden_case_meta(g, "head_layers", "2");
    golden_case_meta(g, "hidden", "16");
    golden_case_meta(g, "out_dim", "8");
    golden_case_meta(g, "head_batch_norm", "1");
    golden_case_meta(g, "loss", "ntxent");
    golden_case_meta(g, "temperature", "0.5");
    golden_case_meta(g, "optimizer", lars ? "lars" : "sgd");
    golden_case_meta(g, "lr", "%.9g", (double)recipe->lr);
    if (recipe->steps > 1)
        golden_case_meta(g, "lr_steps", "%.9g,%.9g,%.9g", (double)step_lr(recipe, 0),
                         (double)step_lr(recipe, 1), (double)step_lr(recipe, 2));
    golden_case_meta(g, "momentum", "%.9g", (double)recipe->momentum);
    golden_case_meta(g, "weight_decay", "%.9g", (double)recipe->weight_decay);
    if (lars)
        golden_case_meta(g, "lars_eta", "0.001");
    golden_case_meta(g, "decayed", lars ? "conv and linear weights (not batch-norm weights or "
                                          "biases, not biases)"
                                        : "every trainable tensor (conv and linear weights, "
                                          "batch-norm weights and biases)");
    golden_case_meta(g, "adapted", lars ? "conv and linear weights get the trust ratio; "
                                          "batch-norm weights and biases and biases trust 1"
                                        : "none (SGD)");
    golden_case_meta(g, "batch", "%lu", (unsigned long)recipe->batch);
    golden_case_meta(g, "views_forward", recipe->separate ? "separate" : "joint");
    golden_case_meta(g, "steps", "%lu", (unsigned long)recipe->steps);
    golden_case_meta(g, "seed", "%d", GOLDEN_SEED);
    golden_case_meta(g, "preset", "cifar");
    golden_case_meta(g, "size", "%d", VIEW_SIDE);
    golden_case_meta(g, "images", "builtin:shapes");
    golden_case_meta(g, "first_epoch", "%lu", (unsigned long)first_epoch);
    golden_case_meta(g, "attempts", "%lu", (unsigned long)attempts);
    golden_case_meta(g, "relu_inputs", "%lu", (unsigned long)margin->inputs);
    golden_case_meta(g, "relu_margin", "%.6g", margin->minimum);
    golden_case_meta(g, "margin_required", "%g", GOLDEN_MARGIN);
}

/* The first views (first epoch a multiple of the steps) whose every forward pass keeps the
 * margin, then the case recorded from them. */
static int write_recipe(golden_case *g, const train_recipe *recipe, const golden_simclr *ops,
                        const char *name)
{
    simclr_error *err = golden_case_error(g);
    golden_margin margin;
    dataset shapes;
    size_t attempt;
    int status = SIMCLR_FAILED;
    if (dataset_open(&shapes, "builtin:shapes", 1, GOLDEN_SEED, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    for (attempt = 0; attempt < GOLDEN_ATTEMPTS; attempt++) {
        /* the search on one thread (the same bits on any count; hundreds of tiny steps, where
         * more threads only wait for each other), the case recorded on the caller's count */
        const int threads = parallel_thread_count();
        parallel_set_thread_count(1);
        status = run_recipe(NULL, recipe, ops, &shapes, attempt * recipe->steps, &margin, err);
        parallel_set_thread_count(threads);
        if (status != SIMCLR_OK)
            break;
        status = SIMCLR_FAILED;
        if (margin.minimum >= GOLDEN_MARGIN) {
            golden_case_begin(g, recipe->op);
            recipe_metadata(g, recipe, attempt * recipe->steps, attempt + 1, &margin);
            status = run_recipe(g, recipe, ops, &shapes, attempt * recipe->steps, &margin, err);
            if (status == SIMCLR_OK) {
                golden_note_margin(g, margin.minimum);
                status = golden_case_finish(g, name);
            } else {
                golden_case_abandon(g);
            }
            break;
        }
    }
    if (attempt == GOLDEN_ATTEMPTS)
        simclr_fail(err, "golden: %s: no views among %d keep every ReLU input %g of its layer's "
                         "scale from 0", name, GOLDEN_ATTEMPTS, GOLDEN_MARGIN);
    dataset_close(&shapes);
    return status;
}

int golden_train_cases(golden_case *g, golden_train_kind kind, void *context)
{
    const golden_simclr *ops = context;
    /* op, N, separate, optimizer, lr, momentum, weight decay, steps */
    static const train_recipe step_joint = {"train_step", 4, 0, OPTIMIZER_SGD, 0.1f, 0.9f,
                                            5e-4f, 1};
    static const train_recipe step_separate = {"train_step", 6, 1, OPTIMIZER_SGD, 0.1f, 0.9f,
                                               5e-4f, 1};
    static const train_recipe steps[4] = {
        {"train_steps", 4, 0, OPTIMIZER_SGD, 0.1f, 0.9f, 0.01f, 3},
        {"train_steps", 4, 1, OPTIMIZER_SGD, 0.1f, 0.9f, 0.01f, 3},
        {"train_steps", 4, 0, OPTIMIZER_LARS, 2.0f, 0.9f, 0.01f, 3},
        {"train_steps", 4, 1, OPTIMIZER_LARS, 2.0f, 0.9f, 0.01f, 3}};
    static const char *const step_names[4] = {
        "train_steps_sgd_w0.0625_n4_joint", "train_steps_sgd_w0.0625_n4_separate",
        "train_steps_lars_w0.0625_n4_joint", "train_steps_lars_w0.0625_n4_separate"};
    static const train_recipe end_to_end = {"end_to_end", 4, 0, OPTIMIZER_SGD, 0.1f, 0.9f,
                                            5e-4f, 1};
    size_t i;
    switch (kind) {
    case GOLDEN_TRAIN_STEP_JOINT:
        return write_recipe(g, &step_joint, ops, "train_step_resnet18_w0.0625_cifar_n4_8x8");
    case GOLDEN_TRAIN_STEP_SEPARATE:
        return write_recipe(g, &step_separate, ops,
                            "train_step_resnet18_w0.0625_cifar_n6_8x8_separate");
    case GOLDEN_TRAIN_STEPS:
        for (i = 0; i < 4; i++)
            if (write_recipe(g, &steps[i], ops, step_names[i]) != SIMCLR_OK)
                return SIMCLR_FAILED;
        return SIMCLR_OK;
    case GOLDEN_END_TO_END:
        return write_recipe(g, &end_to_end, ops, "end_to_end_w0.0625_n4_shapes32");
    }
    return simclr_fail(golden_case_error(g), "golden: unknown training case %d", (int)kind);
}
