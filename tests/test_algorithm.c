/*
 * tests/test_algorithm.c — Algorithm 1 as the library offers it (simclr.h), driven from C
 * without the program: the minibatch (simclr_batch_of_views), the step (simclr_train_step,
 * views jointly or separately), the epochs (simclr_train: schedule, callback, resume), the
 * checkpoint (write, training settings checked like flags, restore) and the encoder API
 * (eval/encoder.h).
 *
 * Every run is tiny: ResNet-18 at width 0.0625 (widths 4-8-16-32) with the CIFAR stem on 16×16
 * views of builtin:shapes, a head 32 → 16 → 8, N = 8 images per step. "The same bits" means
 * memcmp of the float arrays, never a tolerance. Temporary files: /tmp/simclr_algo_*.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "simclr.h"
#include "test_helpers.h"

#define VIEW_SIDE 16
#define BATCH 8

/* The settings of a tiny run on the first `limit` images of builtin:shapes. */
static simclr_training tiny_training(size_t limit, size_t epochs)
{
    simclr_training t = simclr_training_default();
    t.model.encoder.width = 0.0625;
    t.model.head.hidden_dim = 16;
    t.model.head.out_dim = 8;
    t.model.batch = BATCH;
    t.model.seed = 7;
    t.model.channels = 3;
    t.model.height = t.model.width = VIEW_SIDE;
    t.augment.size = VIEW_SIDE;
    t.limit = limit;
    t.epochs = epochs;
    t.base_lr = 1.2;           /* lr 1.2·8/256 = 0.0375 after linear scaling */
    t.warmup_epochs = 0.5;     /* so the run has warm-up steps and cosine steps */
    return t;
}

static void open_shapes(dataset *data, uint64_t seed)
{
    simclr_error err;
    cr_assert_eq(dataset_open(data, "builtin:shapes", 1, seed, &err), SIMCLR_OK, "%s",
                 err.message);
}

/* Creates the model of `t` and records its resolved configuration in `t`, as a run does. */
static void create_model(simclr_model *model, simclr_training *t)
{
    simclr_error err;
    cr_assert_eq(simclr_model_create(model, &t->model, &err), SIMCLR_OK, "%s", err.message);
    t->model = model->config;
}

static size_t run_steps(const simclr_training *t)
{
    return simclr_steps_per_epoch(t->limit, t->model.batch) * t->epochs;
}

/* Parameters, running statistics, num_batches_tracked, optimiser velocity and step counter. */
static void expect_same_state(const simclr_model *a, const simclr_model *b, const char *what)
{
    cr_assert_eq(a->store.param_floats, b->store.param_floats);
    cr_assert_eq(a->store.buffer_floats, b->store.buffer_floats);
    cr_assert_eq(a->store.counter_count, b->store.counter_count);
    cr_expect_eq(a->step, b->step, "%s: steps %zu and %zu", what, a->step, b->step);
    cr_expect(memcmp(a->store.params, b->store.params, a->store.param_floats * sizeof(float)) ==
                  0, "%s: parameters differ", what);
    cr_expect(memcmp(a->store.buffers, b->store.buffers,
                     a->store.buffer_floats * sizeof(float)) == 0,
              "%s: running statistics differ", what);
    cr_expect(memcmp(a->store.counters, b->store.counters,
                     a->store.counter_count * sizeof(int64_t)) == 0,
              "%s: num_batches_tracked differ", what);
    cr_expect(memcmp(a->opt.velocity, b->opt.velocity, a->store.param_floats * sizeof(float)) ==
                  0, "%s: optimiser velocity differs", what);
}

/* The loss and learning-rate history (views per second is timing and is left out). */
static void expect_same_history(const training_log *a, const training_log *b, const char *what)
{
    cr_assert_eq(a->steps, b->steps, "%s: %zu and %zu steps", what, a->steps, b->steps);
    cr_expect(memcmp(a->loss, b->loss, a->steps * sizeof(float)) == 0, "%s: losses differ", what);
    cr_expect(memcmp(a->learning_rate, b->learning_rate, a->steps * sizeof(float)) == 0,
              "%s: learning rates differ", what);
}

static int file_exists(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0;
}

/* ---- callbacks ------------------------------------------------------------------------------ */

/* Stops at the end of the first epoch. */
static int stop_after_first_epoch(const simclr_progress *p, simclr_model *model,
                                  const training_log *history, void *context)
{
    (void)model, (void)history, (void)context;
    return p->epoch_done;
}

/* Records every report; stops after `stop_after` steps of this call (0: never). */
typedef struct progress_record {
    simclr_progress reports[64];
    size_t history_steps[64];
    float history_loss[64], history_lr[64];
    size_t calls, stop_after;
} progress_record;

static int record_progress(const simclr_progress *p, simclr_model *model,
                           const training_log *history, void *context)
{
    progress_record *r = context;
    (void)model;
    cr_assert(r->calls < 64, "more than 64 calls");
    r->reports[r->calls] = *p;
    r->history_steps[r->calls] = history->steps;
    r->history_loss[r->calls] = history->loss[p->step - 1];
    r->history_lr[r->calls] = history->learning_rate[p->step - 1];
    r->calls++;
    return r->stop_after != 0 && r->calls == r->stop_after;
}

/* ==== 1. resume ============================================================================== */

/* A run of 2 epochs straight, and the same run stopped by its callback after epoch 1, written
 * with simclr_checkpoint_write, read back into a new model (the settings from the file, the
 * model created from them, the state restored) and continued to epoch 2: the same bits in
 * everything that decides the future of the run and in the history. */
Test(algorithm, resume_from_a_checkpoint_gives_the_same_bits, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_algo_resume.safetensors";
    simclr_training t = tiny_training(48, 2), read_back;
    simclr_model straight, stopped, resumed;
    training_log h_straight, h_stopped, h_resumed;
    safetensors_file file;
    simclr_error err;
    dataset data;
    size_t epoch, step;
    open_shapes(&data, t.model.seed);
    create_model(&straight, &t);
    create_model(&stopped, &t);
    cr_assert_eq(training_log_create(&h_straight, run_steps(&t), &err), SIMCLR_OK);
    cr_assert_eq(training_log_create(&h_stopped, run_steps(&t), &err), SIMCLR_OK);
    cr_assert_eq(training_log_create(&h_resumed, run_steps(&t), &err), SIMCLR_OK);

    cr_assert_eq(simclr_train(&straight, &t, &data, &h_straight, NULL, NULL, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_assert_eq(straight.step, 12, "6 steps of 8 per epoch, 2 epochs");

    cr_assert_eq(simclr_train(&stopped, &t, &data, &h_stopped, stop_after_first_epoch, NULL,
                              &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(stopped.step, 6);
    remove(path);
    cr_assert_eq(simclr_checkpoint_write(path, &stopped, &t, 1, &h_stopped, &err), SIMCLR_OK,
                 "%s", err.message);

    cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_checkpoint_training(&file, path, &read_back, &epoch, &step, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(epoch, 1);
    cr_expect_eq(step, 6);
    cr_assert_eq(simclr_model_create(&resumed, &read_back.model, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(simclr_checkpoint_restore(&resumed, &file, path, &h_resumed, &err), SIMCLR_OK,
                 "%s", err.message);
    safetensors_free(&file);
    cr_expect_eq(resumed.step, 6);
    cr_expect_eq(h_resumed.steps, 6);
    /* the restored state is the stopped run's, bit for bit, before any further step */
    expect_same_state(&stopped, &resumed, "restored");

    cr_assert_eq(simclr_train(&resumed, &read_back, &data, &h_resumed, NULL, NULL, &err),
                 SIMCLR_OK, "%s", err.message);
    expect_same_state(&straight, &resumed, "straight vs resumed");
    expect_same_history(&h_straight, &h_resumed, "straight vs resumed");

    training_log_destroy(&h_straight);
    training_log_destroy(&h_stopped);
    training_log_destroy(&h_resumed);
    simclr_model_destroy(&straight);
    simclr_model_destroy(&stopped);
    simclr_model_destroy(&resumed);
    dataset_close(&data);
    remove(path);
}

/* ==== 2. threads and schedule ================================================================ */

/* The same run on 1 and 2 threads: the same bits (parallel over independent outputs,
 * reductions in a fixed order). The history's learning rate of step s is (float) of
 * lr_schedule_at(simclr_training_schedule(training, limit), s), exactly: warm-up of
 * round(0.5·4) = 2 steps, then cosine decay over the 8 steps of 2 epochs. */
Test(algorithm, threads_give_the_same_bits_and_the_learning_rate_follows_the_schedule,
     .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(32, 2);
    simclr_model one, two;
    training_log h_one, h_two;
    simclr_error err;
    lr_schedule schedule;
    dataset data;
    size_t s;
    open_shapes(&data, t.model.seed);
    create_model(&one, &t);
    create_model(&two, &t);
    cr_assert_eq(training_log_create(&h_one, run_steps(&t), &err), SIMCLR_OK);
    cr_assert_eq(training_log_create(&h_two, run_steps(&t), &err), SIMCLR_OK);
    parallel_set_thread_count(1);
    cr_assert_eq(simclr_train(&one, &t, &data, &h_one, NULL, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    parallel_set_thread_count(2);
    cr_assert_eq(simclr_train(&two, &t, &data, &h_two, NULL, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    expect_same_state(&one, &two, "1 vs 2 threads");
    expect_same_history(&h_one, &h_two, "1 vs 2 threads");

    schedule = simclr_training_schedule(&t, 32);
    cr_expect_eq(schedule.warmup_steps, 2);
    cr_expect_eq(schedule.total_steps, 8);
    cr_assert_eq(h_one.steps, 8);
    for (s = 0; s < h_one.steps; s++) {
        const float expected = (float)lr_schedule_at(&schedule, s);
        cr_expect_eq(h_one.learning_rate[s], expected, "step %zu: lr %.9g, schedule %.9g", s,
                     (double)h_one.learning_rate[s], (double)expected);
        cr_expect(isfinite(h_one.loss[s]) && h_one.loss[s] > 0, "step %zu: loss %g", s,
                  (double)h_one.loss[s]);
    }
    /* not a constant: warm-up rises, cosine falls */
    cr_expect(h_one.learning_rate[0] < h_one.learning_rate[1]);
    cr_expect(h_one.learning_rate[7] < h_one.learning_rate[2]);
    training_log_destroy(&h_one);
    training_log_destroy(&h_two);
    simclr_model_destroy(&one);
    simclr_model_destroy(&two);
    dataset_close(&data);
}

/* ==== 3. the callback ======================================================================== */

/* limit 36, N 8: ⌊36/8⌋ = 4 steps per epoch (the last 4 images of every epoch's order
 * dropped), 3 epochs, 12 steps. The callback sees steps 1..12 once each, in order, with the
 * epoch, the step within it, epoch_done exactly at step_in_epoch 3, and the history already
 * holding the step it reports. */
Test(algorithm, the_callback_sees_every_step_once_in_order, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(36, 3);
    simclr_model model;
    training_log history;
    simclr_error err;
    dataset data;
    static progress_record record;
    size_t i;
    open_shapes(&data, t.model.seed);
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, run_steps(&t), &err), SIMCLR_OK);
    memset(&record, 0, sizeof record);
    cr_assert_eq(simclr_train(&model, &t, &data, &history, record_progress, &record, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(record.calls, 12);
    cr_expect_eq(model.step, 12);
    cr_expect_eq(history.steps, 12);
    for (i = 0; i < record.calls; i++) {
        const simclr_progress *p = &record.reports[i];
        cr_expect_eq(p->step, i + 1, "call %zu: step %zu", i, p->step);
        cr_expect_eq(p->epoch, i / 4, "call %zu: epoch %zu", i, p->epoch);
        cr_expect_eq(p->step_in_epoch, i % 4, "call %zu", i);
        cr_expect_eq(p->epoch_done, i % 4 == 3, "call %zu: epoch_done %d", i, p->epoch_done);
        cr_expect_eq(p->steps_per_epoch, 4);
        cr_expect_eq(p->total_steps, 12);
        cr_expect_eq(p->first_step, 0);
        cr_expect_eq(record.history_steps[i], i + 1, "the history holds the reported step");
        cr_expect_eq(record.history_loss[i], p->loss);
        cr_expect_eq(record.history_lr[i], (float)p->learning_rate);
    }
    training_log_destroy(&history);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

/* Stopping after step k (here k = 5, inside epoch 2) leaves model->step == k and
 * history.steps == k, with nothing past step k written; resuming from there is refused (the
 * run resumes from whole epochs only), with a message. */
Test(algorithm, stopping_after_step_k_leaves_k_steps, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(36, 3);
    simclr_model model;
    training_log history;
    simclr_error err;
    dataset data;
    static progress_record record;
    open_shapes(&data, t.model.seed);
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, run_steps(&t), &err), SIMCLR_OK);
    history.loss[5] = -1.0f; /* a sentinel past step k */
    memset(&record, 0, sizeof record);
    record.stop_after = 5;
    cr_assert_eq(simclr_train(&model, &t, &data, &history, record_progress, &record, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(record.calls, 5);
    cr_expect_eq(model.step, 5);
    cr_expect_eq(history.steps, 5);
    cr_expect_eq(history.loss[5], -1.0f, "no step past k was logged");
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_train(&model, &t, &data, &history, NULL, NULL, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "5 steps") != NULL, "message: %s", err.message);
    cr_expect_eq(model.step, 5, "a refused run takes no step");
    training_log_destroy(&history);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

/* steps_per_epoch = ⌊limit / N⌋ on both sides of a multiple of N: 39 images give 4 steps of 8,
 * 40 give 5; simclr_steps_per_epoch agrees. */
Test(algorithm, steps_per_epoch_drops_the_last_partial_batch, .timeout = HANG_GUARD_SECONDS)
{
    static const size_t limits[2] = {39, 40}, expected[2] = {4, 5};
    dataset data;
    size_t k;
    for (k = 0; k < 2; k++) {
        simclr_training t = tiny_training(limits[k], 1);
        simclr_model model;
        training_log history;
        simclr_error err;
        static progress_record record;
        if (k == 0)
            open_shapes(&data, t.model.seed);
        create_model(&model, &t);
        cr_assert_eq(training_log_create(&history, run_steps(&t), &err), SIMCLR_OK);
        memset(&record, 0, sizeof record);
        record.stop_after = 1;
        cr_assert_eq(simclr_train(&model, &t, &data, &history, record_progress, &record, &err),
                     SIMCLR_OK, "%s", err.message);
        cr_expect_eq(record.reports[0].steps_per_epoch, expected[k], "limit %zu: %zu", limits[k],
                     record.reports[0].steps_per_epoch);
        cr_expect_eq(simclr_steps_per_epoch(limits[k], BATCH), expected[k]);
        training_log_destroy(&history);
        simclr_model_destroy(&model);
    }
    dataset_close(&data);
}

/* ==== 4. the minibatch ======================================================================= */

/* The definition of the minibatch of (seed, epoch, step): images order[step·N … step·N + N − 1]
 * of dataset_epoch_order(data, seed, epoch), through aug_views_batch with the run's seed and
 * epoch, computed here on one thread from the pieces. */
static void reference_views(float *views, /* (2N, C, S, S) */
                            const dataset *data, const aug_config *augment, uint64_t seed,
                            size_t epoch, size_t step)
{
    const size_t N = BATCH, image_floats = data->channels * data->height * data->width;
    size_t *order = malloc(data->count * sizeof *order);
    float *images = malloc(N * image_floats * sizeof *images);
    const float *pointers[BATCH];
    uint64_t indices[BATCH];
    float *workspace = malloc(aug_batch_workspace_floats(augment, data->channels, data->height,
                                                         data->width, 1) *
                              sizeof *workspace);
    size_t i;
    cr_assert(order != NULL && images != NULL && workspace != NULL);
    dataset_epoch_order(data, seed, epoch, order);
    for (i = 0; i < N; i++) {
        indices[i] = order[step * N + i];
        cr_assert_eq(dataset_image(data, (size_t)indices[i], images + i * image_floats, NULL), SIMCLR_OK);
        pointers[i] = images + i * image_floats;
    }
    aug_views_batch(views, pointers, indices, N, data->channels, data->height, data->width,
                    augment, seed, epoch, workspace, 1);
    free(order);
    free(images);
    free(workspace);
}

/* simclr_batch_of_views for (seed 7, epoch 2, step 3) of the first 48 images equals the
 * definition bit for bit, with the order given and with the workspace's order (NULL), on 1 and
 * on 2 threads; another step gives other views (the comparison can fail). */
Test(algorithm, batch_of_views_is_the_definitions_minibatch, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(48, 3);
    simclr_model model;
    aug_batch workspace;
    simclr_error err;
    dataset data;
    size_t view_floats, *order;
    float *expected, *other;
    int threads;
    open_shapes(&data, t.model.seed);
    data.count = 48; /* the run's images, as simclr_train sees them */
    create_model(&model, &t);
    view_floats = 2 * BATCH * 3 * VIEW_SIDE * VIEW_SIDE;
    expected = malloc(view_floats * sizeof *expected);
    other = malloc(view_floats * sizeof *other);
    order = malloc(data.count * sizeof *order);
    cr_assert(expected != NULL && other != NULL && order != NULL);
    reference_views(expected, &data, &t.augment, t.model.seed, 2, 3);
    reference_views(other, &data, &t.augment, t.model.seed, 2, 4);
    cr_assert(memcmp(expected, other, view_floats * sizeof(float)) != 0,
              "steps 3 and 4 have different views");
    dataset_epoch_order(&data, t.model.seed, 2, order);
    cr_assert_eq(aug_batch_create(&workspace, BATCH, &t.augment, &data, &err), SIMCLR_OK, "%s",
                 err.message);
    for (threads = 1; threads <= 2; threads++) {
        parallel_set_thread_count(threads);
        memset(model.views, 0, view_floats * sizeof(float));
        cr_assert_eq(simclr_batch_of_views(&model, &workspace, &data, order, 3, &t.augment, 2,
                                           &err), SIMCLR_OK, "%s", err.message);
        cr_expect(memcmp(model.views, expected, view_floats * sizeof(float)) == 0,
                  "%d thread(s), order given: not the definition's views", threads);
        memset(model.views, 0, view_floats * sizeof(float));
        dataset_epoch_order(&data, t.model.seed, 2, workspace.order);
        cr_assert_eq(simclr_batch_of_views(&model, &workspace, &data, NULL, 3, &t.augment, 2,
                                           &err), SIMCLR_OK, "%s", err.message);
        cr_expect(memcmp(model.views, expected, view_floats * sizeof(float)) == 0,
                  "%d thread(s), workspace order: not the definition's views", threads);
    }
    aug_batch_destroy(&workspace);
    simclr_model_destroy(&model);
    dataset_close(&data);
    free(expected);
    free(other);
    free(order);
}

/* What simclr_train puts into model->views at every step (the step does not write the views):
 * the definition's minibatch of (seed, epoch, step in epoch) over the first `limit` images. */
typedef struct views_check {
    dataset data;          /* count = limit */
    const simclr_training *training;
    float *expected;
    size_t checked, mismatched;
} views_check;

static int check_views(const simclr_progress *p, simclr_model *model, const training_log *history,
                       void *context)
{
    views_check *c = context;
    const size_t view_floats = 2 * BATCH * 3 * VIEW_SIDE * VIEW_SIDE;
    (void)history;
    reference_views(c->expected, &c->data, &c->training->augment, c->training->model.seed,
                    p->epoch, p->step_in_epoch);
    c->mismatched += memcmp(model->views, c->expected, view_floats * sizeof(float)) != 0;
    c->checked++;
    return 0;
}

Test(algorithm, train_steps_on_the_definitions_minibatches, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(36, 2);
    simclr_model model;
    training_log history;
    simclr_error err;
    dataset data;
    views_check check;
    open_shapes(&data, t.model.seed);
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, run_steps(&t), &err), SIMCLR_OK);
    memset(&check, 0, sizeof check);
    check.data = data;
    check.data.count = 36;
    check.training = &t;
    check.expected = malloc(2 * BATCH * 3 * VIEW_SIDE * VIEW_SIDE * sizeof(float));
    cr_assert(check.expected != NULL);
    cr_assert_eq(simclr_train(&model, &t, &data, &history, check_views, &check, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect_eq(check.checked, 8);
    cr_expect_eq(check.mismatched, 0, "%zu of %zu steps trained on other views",
                 check.mismatched, check.checked);
    free(check.expected);
    training_log_destroy(&history);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

/* ==== 5. views jointly or separately ========================================================= */

/* A model for one step on the first minibatch of epoch 0. */
static void model_with_views(simclr_model *model, simclr_training *t, simclr_views_forward how,
                             const dataset *data)
{
    aug_batch workspace;
    simclr_error err;
    t->model.views_forward = how;
    create_model(model, t);
    cr_assert_eq(aug_batch_create(&workspace, BATCH, &t->augment, data, &err), SIMCLR_OK, "%s",
                 err.message);
    dataset_epoch_order(data, t->model.seed, 0, workspace.order);
    cr_assert_eq(simclr_batch_of_views(model, &workspace, data, NULL, 0, &t->augment, 0, &err),
                 SIMCLR_OK, "%s", err.message);
    aug_batch_destroy(&workspace);
}

static void copy_view0_over_view1(simclr_model *model)
{
    const size_t half = BATCH * 3 * VIEW_SIDE * VIEW_SIDE;
    memcpy(model->views + half, model->views, half * sizeof(float));
}

/* Separately, every batch norm (encoder and head) sees two batches a step, so each
 * num_batches_tracked counts 2 after one step; jointly, one batch of 2N, 1. */
Test(algorithm, separate_views_count_two_batches_per_step, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(48, 1);
    simclr_model joint, separate;
    dataset data;
    size_t i;
    open_shapes(&data, t.model.seed);
    data.count = 48;
    model_with_views(&joint, &t, SIMCLR_VIEWS_JOINT, &data);
    model_with_views(&separate, &t, SIMCLR_VIEWS_SEPARATE, &data);
    simclr_train_step(&joint, 0.01f);
    simclr_train_step(&separate, 0.01f);
    cr_assert_gt(joint.store.counter_count, 20, "ResNet-18's 20 batch norms and the head's");
    cr_assert_eq(joint.store.counter_count, separate.store.counter_count);
    for (i = 0; i < joint.store.counter_count; i++) {
        cr_expect_eq(joint.store.counters[i], 1, "joint counter %zu: %lld", i,
                     (long long)joint.store.counters[i]);
        cr_expect_eq(separate.store.counters[i], 2, "separate counter %zu: %lld", i,
                     (long long)separate.store.counters[i]);
    }
    simclr_model_destroy(&joint);
    simclr_model_destroy(&separate);
    dataset_close(&data);
}

/* With view 1 = view 0, both ways compute the same function. Batch norm in training mode uses
 * the batch mean μ = (1/m)Σx and the biased variance σ² = (1/m)Σ(x − μ)²: over the 2N rows
 * [x; x] both sums double and m doubles, so μ and σ² are those of the N rows x, and every
 * normalised row is the same. Then z0 = z1, the NT-Xent loss is the same, and by its symmetry
 * in (z0, z1) ∂L/∂z0 = ∂L/∂z1 at z0 = z1; batch norm's backward, dx = (γ/σ)(dy − mean(dy) −
 * x̂·mean(dy·x̂)), has the same means over [dy; dy] as over dy, and every weight gradient of the
 * joint pass is the sum of the two separate passes' gradients. So the losses and the updated
 * parameters agree up to float rounding (sums in another order and grouping: 2N rows in one
 * GEMM or two GEMMs of N). (The running statistics are not compared: separately they are
 * updated twice, and the unbiased running variance uses m/(m − 1) with m = N, not 2N.)
 * Tolerances: the loss within 1e-5 relative (the project's tolerance for float ops); after one step at lr 0.05 every
 * parameter p within 1e-6 + 1e-5·|p|. The step moves parameters by up to ~0.1 (measured: 0.094)
 * and the two ways were measured to agree within 1.2e-7 (a few ulps of the parameters), so the
 * bound is ~10× the rounding seen and ~1e-5 of the largest update. */
Test(algorithm, identical_views_give_the_same_step_jointly_and_separately, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(48, 1);
    simclr_model joint, separate;
    dataset data;
    float loss_joint, loss_separate, worst = 0;
    size_t i, worst_at = 0, moved = 0;
    float *before;
    open_shapes(&data, t.model.seed);
    data.count = 48;
    model_with_views(&joint, &t, SIMCLR_VIEWS_JOINT, &data);
    model_with_views(&separate, &t, SIMCLR_VIEWS_SEPARATE, &data);
    copy_view0_over_view1(&joint);
    copy_view0_over_view1(&separate);
    cr_assert(memcmp(joint.views, separate.views,
                     2 * BATCH * 3 * VIEW_SIDE * VIEW_SIDE * sizeof(float)) == 0);
    before = malloc(joint.store.param_floats * sizeof *before);
    cr_assert(before != NULL);
    memcpy(before, joint.store.params, joint.store.param_floats * sizeof *before);
    loss_joint = simclr_train_step(&joint, 0.05f);
    loss_separate = simclr_train_step(&separate, 0.05f);
    cr_expect(fabsf(loss_joint - loss_separate) <= 1e-5f * fabsf(loss_joint),
              "loss %.9g jointly, %.9g separately", (double)loss_joint, (double)loss_separate);
    for (i = 0; i < joint.store.param_floats; i++) {
        const float a = joint.store.params[i], b = separate.store.params[i];
        const float excess = fabsf(a - b) - (1e-6f + 1e-5f * fabsf(a));
        if (excess > worst)
            worst = excess, worst_at = i;
        moved += a != before[i];
    }
    cr_expect(worst <= 0, "parameter %zu: %.9g jointly, %.9g separately", worst_at,
              (double)joint.store.params[worst_at], (double)separate.store.params[worst_at]);
    cr_expect_gt(moved, joint.store.param_floats / 2, "the step moved the parameters");
    free(before);
    simclr_model_destroy(&joint);
    simclr_model_destroy(&separate);
    dataset_close(&data);
}

/* With two different views the batch statistics over [x0; x1] are not those over x0 and over x1
 * alone, so the two ways give different losses: required to differ by more than 1e-3 relative
 * (measured: 3.039 jointly, 2.873 separately, 5% apart; the statistics of a batch of 8 and of
 * 16 differ in their first digits, while rounding alone moves the loss by ~1e-7). */
Test(algorithm, different_views_give_different_losses_jointly_and_separately, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(48, 1);
    simclr_model joint, separate;
    dataset data;
    float loss_joint, loss_separate;
    open_shapes(&data, t.model.seed);
    data.count = 48;
    model_with_views(&joint, &t, SIMCLR_VIEWS_JOINT, &data);
    model_with_views(&separate, &t, SIMCLR_VIEWS_SEPARATE, &data);
    loss_joint = simclr_train_step(&joint, 0.05f);
    loss_separate = simclr_train_step(&separate, 0.05f);
    cr_expect(isfinite(loss_joint) && isfinite(loss_separate));
    cr_expect(fabsf(loss_joint - loss_separate) > 1e-3f * fabsf(loss_joint),
              "loss %.9g jointly, %.9g separately", (double)loss_joint, (double)loss_separate);
    simclr_model_destroy(&joint);
    simclr_model_destroy(&separate);
    dataset_close(&data);
}

/* ==== 6. misuse ============================================================================== */

/* Views of another size than the model takes, or data of another channel count: SIMCLR_FAILED
 * with both sizes (both channel counts) in the message, and the views left alone. */
Test(algorithm, batch_of_views_refuses_other_sizes_and_channels, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(48, 1), gray;
    simclr_model model, one_channel;
    aug_batch workspace;
    aug_config bigger;
    simclr_error err;
    dataset data;
    open_shapes(&data, t.model.seed);
    create_model(&model, &t);
    cr_assert_eq(aug_batch_create(&workspace, BATCH, &t.augment, &data, &err), SIMCLR_OK, "%s",
                 err.message);
    dataset_epoch_order(&data, t.model.seed, 0, workspace.order);
    model.views[0] = 12345.0f;
    bigger = t.augment;
    bigger.size = 24;
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_batch_of_views(&model, &workspace, &data, NULL, 0, &bigger, 0, &err),
                 SIMCLR_FAILED);
    cr_expect(strstr(err.message, "24 pixels a side") != NULL && strstr(err.message, "16x16") != NULL,
              "message: %s", err.message);
    cr_expect_eq(model.views[0], 12345.0f, "the views were left alone");

    gray = t;
    gray.model.channels = 1; /* builtin:shapes is RGB */
    create_model(&one_channel, &gray);
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_batch_of_views(&one_channel, &workspace, &data, NULL, 0, &gray.augment,
                                       0, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "3 channels") != NULL && strstr(err.message, "takes 1") != NULL,
              "message: %s", err.message);
    aug_batch_destroy(&workspace);
    simclr_model_destroy(&model);
    simclr_model_destroy(&one_channel);
    dataset_close(&data);
}

/* With the workspace's order (NULL), the batch of step s reads order[s·N … s·N + N − 1] of an
 * order of w->count images: step ⌊count/N⌋ − 1 is the last whole batch (the boundary, which
 * works) and step ⌊count/N⌋ would read past the order (here 48 images, N 8: entries 48 … 55 of
 * 48), which must be SIMCLR_FAILED naming the step, not a read out of bounds (bad
 * input never crashes). */
Test(algorithm, batch_of_views_refuses_a_step_past_the_epoch, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(48, 1);
    simclr_model model;
    aug_batch workspace;
    simclr_error err;
    dataset data;
    open_shapes(&data, t.model.seed);
    data.count = 48;
    create_model(&model, &t);
    cr_assert_eq(aug_batch_create(&workspace, BATCH, &t.augment, &data, &err), SIMCLR_OK, "%s",
                 err.message);
    dataset_epoch_order(&data, t.model.seed, 0, workspace.order);
    cr_expect_eq(simclr_batch_of_views(&model, &workspace, &data, NULL, 5, &t.augment, 0, &err),
                 SIMCLR_OK, "%s", err.message);
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_batch_of_views(&model, &workspace, &data, NULL, 6, &t.augment, 0, &err),
                 SIMCLR_FAILED, "step 6 of a 6-step epoch was accepted");
    cr_expect(strstr(err.message, "6") != NULL, "message: %s", err.message);
    aug_batch_destroy(&workspace);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

/* A model that has taken steps cannot be written without its history (NULL, or one holding
 * fewer steps): SIMCLR_FAILED naming the step counts, and no file (nor a temporary) left. */
Test(algorithm, checkpoint_write_refuses_a_missing_history, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_algo_no_history.safetensors";
    simclr_training t = tiny_training(48, 1);
    simclr_model model;
    training_log history;
    simclr_error err;
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, 6, &err), SIMCLR_OK);
    remove(path);
    model.step = 3;
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_checkpoint_write(path, &model, &t, 0, NULL, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "3 steps") != NULL, "message: %s", err.message);
    cr_expect(!file_exists(path) && test_leftover_temporaries(path) == 0, "a file was written");
    history.steps = 2;
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_checkpoint_write(path, &model, &t, 0, &history, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "3 steps") != NULL && strstr(err.message, "holds 2") != NULL,
              "message: %s", err.message);
    cr_expect(!file_exists(path) && test_leftover_temporaries(path) == 0, "a file was written");
    /* the boundary on the other side: the history holds all 3 steps, and it is written */
    history.steps = 3;
    cr_expect_eq(simclr_checkpoint_write(path, &model, &t, 0, &history, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect(file_exists(path));
    remove(path);
    training_log_destroy(&history);
    simclr_model_destroy(&model);
}

/* A batch of 8 from 7 images is no epoch at all: SIMCLR_FAILED naming both numbers, no step
 * taken, the callback never called. So is a history without room for the run. */
Test(algorithm, train_refuses_a_batch_larger_than_the_images, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training(7, 1);
    simclr_model model;
    training_log history, short_history;
    simclr_error err;
    dataset data;
    static progress_record record;
    open_shapes(&data, t.model.seed);
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, 8, &err), SIMCLR_OK);
    memset(&record, 0, sizeof record);
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_train(&model, &t, &data, &history, record_progress, &record, &err),
                 SIMCLR_FAILED);
    cr_expect(strstr(err.message, "batch of 8") != NULL && strstr(err.message, "7") != NULL,
              "message: %s", err.message);
    cr_expect_eq(model.step, 0);
    cr_expect_eq(record.calls, 0);

    t.limit = 16;
    t.epochs = 2; /* 4 steps, room for 3 */
    cr_assert_eq(training_log_create(&short_history, 3, &err), SIMCLR_OK);
    memset(&err, 0, sizeof err);
    cr_expect_eq(simclr_train(&model, &t, &data, &short_history, NULL, NULL, &err),
                 SIMCLR_FAILED);
    cr_expect(strstr(err.message, "history") != NULL, "message: %s", err.message);
    cr_expect_eq(model.step, 0);
    training_log_destroy(&history);
    training_log_destroy(&short_history);
    simclr_model_destroy(&model);
    dataset_close(&data);
}

/* ==== 7. checkpoint values checked like flags ================================================ */

/* Writes a checkpoint of a fresh model with the (possibly bad) settings `t` and returns what
 * simclr_checkpoint_training says about it. */
static int read_settings_back(const simclr_training *t, const char *path, simclr_error *err)
{
    simclr_model model;
    simclr_training model_settings = tiny_training(48, 1), read_back;
    safetensors_file file;
    size_t epoch, step;
    int status;
    create_model(&model, &model_settings);
    remove(path);
    cr_assert_eq(simclr_checkpoint_write(path, &model, t, 0, NULL, err), SIMCLR_OK, "%s",
                 err->message);
    simclr_model_destroy(&model);
    cr_assert_eq(safetensors_read(&file, path, err), SIMCLR_OK, "%s", err->message);
    memset(err, 0, sizeof *err);
    status = simclr_checkpoint_training(&file, path, &read_back, &epoch, &step, err);
    safetensors_free(&file);
    remove(path);
    return status;
}

/* The reader applies the table's ranges and cross-checks to a file as to flags: τ = 0 (range
 * [1e-3, 100]), a NaN learning rate, a reversed aspect-ratio range, an unknown preset are each
 * refused with the setting named. The good settings read back (the checks can pass). */
Test(algorithm, checkpoint_settings_are_checked_like_flags, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_algo_bad_settings.safetensors";
    simclr_training good = tiny_training(48, 1), t;
    simclr_model model;
    simclr_error err;
    create_model(&model, &good);
    simclr_model_destroy(&model);
    cr_expect_eq(read_settings_back(&good, path, &err), SIMCLR_OK, "%s", err.message);

    t = good;
    t.model.loss.temperature = 0;
    cr_expect_eq(read_settings_back(&t, path, &err), SIMCLR_FAILED, "temperature 0 accepted");
    cr_expect(strstr(err.message, "temperature") != NULL, "message: %s", err.message);

    t = good;
    t.base_lr = NAN;
    cr_expect_eq(read_settings_back(&t, path, &err), SIMCLR_FAILED, "lr NaN accepted");
    cr_expect(strstr(err.message, "'lr'") != NULL || strstr(err.message, "--lr") != NULL,
              "message: %s", err.message);

    t = good;
    t.augment.min_ratio = 1.5;
    t.augment.max_ratio = 1.25;
    cr_expect_eq(read_settings_back(&t, path, &err), SIMCLR_FAILED, "ratio 1.5..1.25 accepted");
    cr_expect(strstr(err.message, "ratio") != NULL, "message: %s", err.message);

    t = good;
    strcpy(t.preset, "sepia");
    cr_expect_eq(read_settings_back(&t, path, &err), SIMCLR_FAILED, "preset sepia accepted");
    cr_expect(strstr(err.message, "preset") != NULL && strstr(err.message, "sepia") != NULL,
              "message: %s", err.message);
}

/* One list per fact: every keyed entry of run_settings[] is in a written
 * checkpoint's metadata, as setting_format writes it, and every flagged entry is in the
 * settings_usage text of the table as "--flag ". */
Test(algorithm, every_run_setting_is_in_the_metadata_and_the_usage, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_algo_metadata.safetensors";
    simclr_training t = tiny_training(48, 1);
    simclr_model model;
    safetensors_file file;
    settings_group group;
    simclr_error err;
    static char usage[32768];
    size_t i, keys = 0, flags = 0, length;
    create_model(&model, &t);
    remove(path);
    cr_assert_eq(simclr_checkpoint_write(path, &model, &t, 0, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
    group = settings_group_of(run_settings, run_setting_count, &t);
    length = settings_usage(&group, 1, usage, sizeof usage);
    cr_assert_lt(length, sizeof usage - 1, "the usage text fits");
    for (i = 0; i < run_setting_count; i++) {
        const setting *s = &run_settings[i];
        if (s->key != NULL) {
            const char *value = safetensors_metadata_value(&file, s->key);
            char expected[256];
            cr_expect(value != NULL, "metadata '%s' missing", s->key);
            cr_expect_gt(setting_format(s, &t, expected, sizeof expected), 0);
            if (value != NULL)
                cr_expect_str_eq(value, expected, "metadata '%s'", s->key);
            keys++;
        }
        if (s->flag != NULL) {
            char needle[80];
            snprintf(needle, sizeof needle, "--%s ", s->flag);
            cr_expect(strstr(usage, needle) != NULL, "--%s is not in the usage", s->flag);
            flags++;
        }
    }
    cr_expect_gt(keys, 40);
    cr_expect_gt(flags, 30);
    safetensors_free(&file);
    simclr_model_destroy(&model);
    remove(path);
}

/* ==== 8. the encoder API ===================================================================== */

static void embed_image(simclr_encoder *encoder, const dataset *data, size_t index,
                        float *features)
{
    simclr_error err;
    float *image = malloc(data->channels * data->height * data->width * sizeof *image);
    cr_assert(image != NULL);
    cr_assert_eq(dataset_image(data, index, image, NULL), SIMCLR_OK);
    cr_assert_eq(simclr_encoder_embed(encoder, features, image, 1, data->height, data->width,
                                      &err), SIMCLR_OK, "%s", err.message);
    free(image);
}

/* After a short run: the encoder from the checkpoint's path and from its bytes give the same
 * features; a feature depends only on its image (capacity 1 and batches of 8 give the same bits,
 * as eval mode's batch norm uses running statistics); the exported encoder file gives the same
 * features; random_init gives the backbone of a freshly created model of the same seed. */
Test(algorithm, encoder_from_a_trained_checkpoint, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_algo_encoder_ckpt.safetensors";
    const char *exported = "/tmp/simclr_algo_encoder_export.safetensors";
    simclr_training t = tiny_training(32, 1);
    simclr_model model, fresh;
    training_log history;
    simclr_encoder from_path, from_bytes, batched, from_export, initial;
    feature_set one_at_a_time, eight_at_a_time, exported_features;
    simclr_error err;
    dataset data;
    uint8_t *bytes;
    size_t size, dim, i, compared = 0;
    float a[32], b[32];
    open_shapes(&data, t.model.seed);
    create_model(&model, &t);
    cr_assert_eq(training_log_create(&history, run_steps(&t), &err), SIMCLR_OK);
    cr_assert_eq(simclr_train(&model, &t, &data, &history, NULL, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    remove(path);
    cr_assert_eq(simclr_checkpoint_write(path, &model, &t, 1, &history, &err), SIMCLR_OK, "%s",
                 err.message);

    cr_assert_eq(simclr_encoder_load(&from_path, path, 0, 1, &err), SIMCLR_OK, "%s",
                 err.message);
    dim = from_path.net.feature_dim;
    cr_assert_eq(dim, 32, "layer4 at width 0.0625");
    cr_assert_eq(file_read_all(path, (size_t)1 << 30, &bytes, &size, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(simclr_encoder_load_bytes(&from_bytes, bytes, size, "in memory", 0, 1, &err),
                 SIMCLR_OK, "%s", err.message);
    simclr_free(bytes);
    embed_image(&from_path, &data, 0, a);
    embed_image(&from_bytes, &data, 0, b);
    cr_expect(memcmp(a, b, dim * sizeof(float)) == 0, "path and bytes give other features");
    /* features, not an untouched buffer: image 0's are not all zero */
    for (i = 0; i < dim; i++)
        compared += a[i] != 0;
    cr_expect_gt(compared, 0);

    /* one at a time and eight at a time, over the first 24 images */
    cr_assert_eq(simclr_encoder_load(&batched, path, 0, 8, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_encoder_features(&one_at_a_time, &from_path, &data, 24, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_assert_eq(simclr_encoder_features(&eight_at_a_time, &batched, &data, 24, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(one_at_a_time.count, 24);
    cr_assert_eq(eight_at_a_time.count, 24);
    cr_expect(memcmp(one_at_a_time.values, a, dim * sizeof(float)) == 0,
              "features and embed disagree on image 0");
    for (i = 0; i < 24; i++)
        cr_expect(memcmp(one_at_a_time.values + i * dim, eight_at_a_time.values + i * dim,
                         dim * sizeof(float)) == 0,
                  "image %zu: capacity 1 and batches of 8 differ", i);

    /* the exported encoder file */
    remove(exported);
    cr_assert_eq(simclr_encoder_export(exported, &from_path, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(simclr_encoder_load(&from_export, exported, 0, 8, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(simclr_encoder_features(&exported_features, &from_export, &data, 24, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect(memcmp(exported_features.values, eight_at_a_time.values,
                     24 * dim * sizeof(float)) == 0, "the exported encoder gives other features");

    /* random_init: the backbone a run of this seed starts from */
    cr_assert_eq(simclr_encoder_load(&initial, path, 1, 1, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_model_create(&fresh, &t.model, &err), SIMCLR_OK, "%s", err.message);
    compared = 0;
    for (i = 0; i < initial.store.count; i++) {
        const param_entry *e = &initial.store.entries[i];
        const param_entry *f = param_store_find(&fresh.store, e->name);
        cr_assert(f != NULL, "%s is not in the model", e->name);
        cr_assert_eq(e->count, f->count, "%s", e->name);
        if (e->role == BUFFER_NUM_BATCHES_TRACKED)
            continue;
        if (param_role_is_trainable(e->role))
            cr_expect(memcmp(initial.store.params + e->offset, fresh.store.params + f->offset,
                             e->count * sizeof(float)) == 0, "%s differs", e->name);
        else
            cr_expect(memcmp(initial.store.buffers + e->offset, fresh.store.buffers + f->offset,
                             e->count * sizeof(float)) == 0, "%s differs", e->name);
        compared++;
    }
    cr_expect_gt(compared, 60, "every backbone tensor compared");
    /* and not the trained weights */
    cr_expect(memcmp(initial.store.params, from_path.store.params,
                     initial.store.param_floats * sizeof(float)) != 0);

    feature_set_destroy(&one_at_a_time);
    feature_set_destroy(&eight_at_a_time);
    feature_set_destroy(&exported_features);
    simclr_encoder_destroy(&from_path);
    simclr_encoder_destroy(&from_bytes);
    simclr_encoder_destroy(&batched);
    simclr_encoder_destroy(&from_export);
    simclr_encoder_destroy(&initial);
    simclr_model_destroy(&fresh);
    simclr_model_destroy(&model);
    training_log_destroy(&history);
    dataset_close(&data);
    remove(path);
    remove(exported);
}
