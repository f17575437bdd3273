/*
 * tests/test_train.c — `simclr train`, `simclr eval` and `simclr embed` as a user meets them,
 * and checkpoints as the library writes them (safetensors, torchvision's names): a round trip
 * keeps every tensor, a resumed run gives the same bits as an uninterrupted one, a non-finite
 * loss (a fault injected through simclr_train's callback) stops the run without touching the
 * last checkpoint, and every bad flag is refused by name.
 * Runs the ./simclr built by `make test`; temporary files under /tmp/simclr_train_*.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "simclr.h"
#include "test_helpers.h"

static int run(const char *command)
{
    const int status = system(command);
    cr_assert(status != -1 && WIFEXITED(status), "%s did not run", command);
    return WEXITSTATUS(status);
}

/* A tiny model on 96 built-in images: 6 steps of 16 per epoch, widths 4-8-16-32. */
#define TINY "./simclr train --data builtin:shapes --limit 96 --batch 16 --width 0.0625 " \
             "--hidden 16 --out-dim 8 --threads 2 "

Test(train, resume_gives_the_same_bits_as_an_uninterrupted_run, .timeout = HANG_GUARD_SECONDS)
{
    cr_assert_eq(run("rm -rf /tmp/simclr_train_straight /tmp/simclr_train_resumed"), 0);
    cr_assert_eq(run(TINY "--epochs 2 --out /tmp/simclr_train_straight > /dev/null 2>&1"), 0);
    /* the same run, stopped after one epoch, then resumed from its checkpoint */
    cr_assert_eq(run(TINY "--epochs 2 --stop-after 1 --out /tmp/simclr_train_resumed "
                          "> /dev/null 2>&1"), 0);
    cr_assert_eq(run("./simclr train --resume /tmp/simclr_train_resumed/checkpoint.safetensors "
                     "--out /tmp/simclr_train_resumed --threads 1 > /dev/null 2>&1"), 0);
    /* the whole files: weights, optimiser state, loss history and settings (views/s aside,
     * which is timing: compare everything but the log.views_per_second tensor) */
    {
        simclr_error err;
        safetensors_file a, b;
        size_t i, compared = 0;
        cr_assert_eq(safetensors_read(&a, "/tmp/simclr_train_straight/checkpoint.safetensors",
                                      &err), SIMCLR_OK, "%s", err.message);
        cr_assert_eq(safetensors_read(&b, "/tmp/simclr_train_resumed/checkpoint.safetensors",
                                      &err), SIMCLR_OK, "%s", err.message);
        cr_assert_eq(a.count, b.count);
        for (i = 0; i < a.count; i++) {
            const safetensors_tensor *other = safetensors_find(&b, a.tensors[i].name);
            const size_t bytes = a.tensors[i].end - a.tensors[i].begin;
            if (strcmp(a.tensors[i].name, "log.views_per_second") == 0)
                continue;
            cr_assert(other != NULL, "%s missing after resume", a.tensors[i].name);
            cr_assert_eq(other->end - other->begin, bytes);
            cr_expect(memcmp(a.data + a.tensors[i].begin, b.data + other->begin, bytes) == 0,
                      "%s differs after resume", a.tensors[i].name);
            compared++;
        }
        cr_expect(compared > 100, "only %zu tensors compared", compared);
        cr_expect_str_eq(safetensors_metadata_value(&a, "step"), "12");
        cr_expect_str_eq(safetensors_metadata_value(&b, "step"), "12");
        cr_expect_str_eq(safetensors_metadata_value(&b, "epoch"), "2");
        safetensors_free(&a);
        safetensors_free(&b);
    }
    run("rm -rf /tmp/simclr_train_straight /tmp/simclr_train_resumed");
}

Test(train, checkpoint_round_trip_keeps_every_tensor)
{
    simclr_config config = simclr_config_default();
    simclr_training training, read_back;
    simclr_model model, restored;
    simclr_error err;
    safetensors_file file;
    training_log history, history_back;
    size_t epoch, step, i;
    const char *path = "/tmp/simclr_train_round_trip.safetensors";
    config.encoder.width = 0.0625;
    config.batch = 4;
    config.head.hidden_dim = 16;
    config.head.out_dim = 8;
    config.seed = 99;
    cr_assert_eq(simclr_model_create(&model, &config, &err), SIMCLR_OK, "%s", err.message);
    training = simclr_training_default();
    training.model = model.config;
    training.augment.min_scale = 0.3;
    training.limit = 96;
    training.epochs = 7;
    training.base_lr = 0.1 + 1e-17;
    training.scaling = LR_SCALING_SQRT;
    training.warmup_epochs = 0.5;
    /* every value distinct and non-trivial: params, buffers, counters, velocity, history */
    test_fill_uniform(model.store.params, model.store.param_floats, -1.0f, 1.0f, 801);
    test_fill_uniform(model.store.buffers, model.store.buffer_floats, 0.1f, 2.0f, 802);
    test_fill_uniform(model.opt.velocity, model.store.param_floats, -0.01f, 0.01f, 803);
    for (i = 0; i < model.store.counter_count; i++)
        model.store.counters[i] = (int64_t)(i * 1000003) - 5;
    cr_assert_eq(training_log_create(&history, 5, &err), SIMCLR_OK);
    cr_assert_eq(training_log_create(&history_back, 5, &err), SIMCLR_OK);
    test_fill_uniform(history.loss, 5, 0.0f, 5.0f, 804);
    test_fill_uniform(history.learning_rate, 5, 0.0f, 5.0f, 805);
    test_fill_uniform(history.views_per_second, 5, 0.0f, 5.0f, 806);
    history.steps = 5;
    model.step = 5;
    cr_assert_eq(simclr_checkpoint_write(path, &model, &training, 3, &history, &err), SIMCLR_OK,
                 "%s", err.message);

    cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_checkpoint_training(&file, path, &read_back, &epoch, &step, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(epoch, 3);
    cr_expect_eq(step, 5);
    cr_expect_eq(read_back.model.seed, 99);
    cr_expect_eq(read_back.model.encoder.width, 0.0625);
    cr_expect_eq(read_back.model.head.hidden_dim, 16);
    cr_expect_eq(read_back.base_lr, training.base_lr, "doubles survive as 17 digits");
    cr_expect_eq(read_back.augment.min_scale, 0.3);
    cr_expect_eq(read_back.scaling, LR_SCALING_SQRT);
    cr_expect_eq(read_back.limit, 96);
    cr_expect_eq(read_back.warmup_epochs, 0.5);
    cr_assert_eq(simclr_model_create(&restored, &read_back.model, &err), SIMCLR_OK);
    cr_assert_eq(simclr_checkpoint_restore(&restored, &file, path, &history_back, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect(memcmp(model.store.params, restored.store.params,
                     model.store.param_floats * sizeof(float)) == 0);
    cr_expect(memcmp(model.store.buffers, restored.store.buffers,
                     model.store.buffer_floats * sizeof(float)) == 0);
    cr_expect(memcmp(model.store.counters, restored.store.counters,
                     model.store.counter_count * sizeof(int64_t)) == 0);
    cr_expect(memcmp(model.opt.velocity, restored.opt.velocity,
                     model.store.param_floats * sizeof(float)) == 0);
    cr_expect_eq(history_back.steps, 5);
    cr_expect(memcmp(history.loss, history_back.loss, 5 * sizeof(float)) == 0);
    cr_expect(memcmp(history.learning_rate, history_back.learning_rate, 5 * sizeof(float)) == 0);
    cr_expect(memcmp(history.views_per_second, history_back.views_per_second,
                     5 * sizeof(float)) == 0);
    cr_expect_eq(restored.step, 5);
    /* torchvision's names under backbone. (what load_state_dict will look up) */
    cr_expect(safetensors_find(&file, "backbone.layer4.1.bn2.running_var") != NULL);
    cr_expect(safetensors_find(&file, "backbone.bn1.num_batches_tracked") != NULL);
    cr_expect(safetensors_find(&file, "projection_head.layers.0.weight") != NULL);
    safetensors_free(&file);
    simclr_model_destroy(&model);
    simclr_model_destroy(&restored);
    training_log_destroy(&history);
    training_log_destroy(&history_back);
    remove(path);
}

/* simclr_train's callback saves a checkpoint at every epoch's end, as the program does, and
 * injects a fault: after step 8 one weight becomes NaN, so step 9 (in epoch 2 of 6 steps each)
 * has a non-finite loss. The run stops with an error naming that step, epoch 1's checkpoint
 * is left as it was, and the program resumes the run from it. */
typedef struct fault_run {
    const simclr_training *training;
    const char *path;
    size_t poison_after;
} fault_run;

static int save_and_poison(const simclr_progress *p, simclr_model *model,
                           const training_log *history, void *context)
{
    const fault_run *run = context;
    simclr_error err;
    if (p->epoch_done)
        cr_assert_eq(simclr_checkpoint_write(run->path, model, run->training, p->epoch + 1,
                                             history, &err), SIMCLR_OK, "%s", err.message);
    if (p->step == run->poison_after)
        model->store.params[model->store.param_floats - 1] = (float)NAN; /* the last BN1d's bias:
                                                                          no ReLU hides it */
    return 0;
}

Test(train, a_non_finite_loss_stops_and_keeps_the_last_checkpoint, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training training = simclr_training_default();
    simclr_model model;
    training_log history;
    simclr_error err;
    dataset data;
    fault_run run_context;
    safetensors_file file;
    simclr_training saved;
    size_t epoch, step;
    cr_assert_eq(run("rm -rf /tmp/simclr_train_nan && mkdir -p /tmp/simclr_train_nan"), 0);
    training.limit = 96;
    training.epochs = 3;
    training.model.batch = 16;
    training.model.encoder.width = 0.0625;
    training.model.head.hidden_dim = 16;
    training.model.head.out_dim = 8;
    cr_assert_eq(dataset_open(&data, training.data, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_model_create(&model, &training.model, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(training_log_create(&history, 18, &err), SIMCLR_OK);
    run_context.training = &training;
    run_context.path = "/tmp/simclr_train_nan/checkpoint.safetensors";
    run_context.poison_after = 8;
    cr_expect_eq(simclr_train(&model, &training, &data, &history, save_and_poison, &run_context,
                              &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "non-finite") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "epoch 2, step 9") != NULL, "%s", err.message);
    cr_expect_eq(history.steps, 8, "the history stops before the bad step");
    cr_assert_eq(safetensors_read(&file, run_context.path, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_checkpoint_training(&file, run_context.path, &saved, &epoch, &step, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(epoch, 1);
    cr_expect_eq(step, 6);
    safetensors_free(&file);
    training_log_destroy(&history);
    simclr_model_destroy(&model);
    dataset_close(&data);
    /* and the program goes on from it */
    cr_expect_eq(run("./simclr train --resume /tmp/simclr_train_nan/checkpoint.safetensors "
                     "--out /tmp/simclr_train_nan > /dev/null 2>&1"), 0);
    run("rm -rf /tmp/simclr_train_nan");
}

/* Each bad value exits non-zero with a message that names the flag. */
static void expect_refused(const char *arguments, const char *flag)
{
    char command[512];
    snprintf(command, sizeof command,
             "./simclr train --out /tmp/simclr_train_bad %s > /dev/null 2> /tmp/simclr_train_bad.err; "
             "test $? -eq 2 && grep -q -- '%s' /tmp/simclr_train_bad.err",
             arguments, flag);
    cr_expect_eq(run(command), 0, "simclr train %s: not refused with a message naming %s",
                 arguments, flag);
}

Test(train, bad_values_are_refused_by_name)
{
    expect_refused("--batch 0", "--batch");
    expect_refused("--lr -1", "--lr");
    expect_refused("--epochs 0", "--epochs");
    expect_refused("--width 0", "--width");
    expect_refused("--temperature 0", "--temperature");
    expect_refused("--optimizer adam", "--optimizer");
    expect_refused("--arch resnet7", "--arch");
    expect_refused("--loss hinge", "--loss");
    expect_refused("--lr-scaling cubic", "--lr-scaling");
    expect_refused("--preset svhn", "--preset");
    expect_refused("--p-blur 2", "--p-blur");
    expect_refused("--frobnicate 1", "--frobnicate");
    expect_refused("--data /no/such/dataset", "--data");
    expect_refused("--resume /no/such.safetensors", "--resume");
    expect_refused("--resume /etc/passwd", "--resume");
    expect_refused("--batch", "--batch");
    run("rm -rf /tmp/simclr_train_bad /tmp/simclr_train_bad.err");
}

Test(cli_eval, help_and_bad_usage)
{
    cr_expect_eq(run("./simclr train --help | grep -q -- --weight-decay"), 0);
    cr_expect_eq(run("./simclr eval --help | grep -q -- --probe"), 0);
    cr_expect_eq(run("./simclr embed --help | grep -q -- --checkpoint"), 0);
    cr_expect_eq(run("./simclr golden --help | grep -q -- --out"), 0);
    cr_expect_eq(run("./simclr golden > /dev/null 2>&1"), 2, "golden needs --out");
    cr_expect_eq(run("./simclr golden --out /tmp/x --threads 0 > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr eval > /dev/null 2>&1"), 2, "needs --checkpoint or --features");
    cr_expect_eq(run("./simclr eval --features raw --probe svm > /dev/null 2>&1"), 2);
    cr_expect_eq(run("./simclr eval --checkpoint /no/such > /dev/null 2>&1"), 1);
    cr_expect_eq(run("./simclr embed --checkpoint /no/such --out /tmp/x > /dev/null 2>&1"), 1);
}

/* simclr golden --cases: a subset of the references, each file the same bits as when written
 * with other cases around it (a case keeps its input streams), and unknown ops refused. */
Test(cli_eval, golden_cases_subset_keeps_every_files_bits, .timeout = HANG_GUARD_SECONDS)
{
    run("rm -rf /tmp/simclr_golden_a /tmp/simclr_golden_b");
    cr_assert_eq(run("./simclr golden --out /tmp/simclr_golden_a --cases hue > /dev/null 2>&1"), 0);
    cr_assert_eq(run("./simclr golden --out /tmp/simclr_golden_b --cases relu,ntxent,hue "
                     "> /dev/null 2>&1"), 0);
    cr_expect_eq(run("test $(ls /tmp/simclr_golden_a/*.safetensors | wc -l) = 5"), 0,
                 "the five hue cases only");
    cr_expect_eq(run("test $(ls /tmp/simclr_golden_b/*.safetensors | wc -l) = 11"), 0,
                 "2 relu + 4 ntxent + 5 hue cases");
    cr_expect_eq(run("for f in /tmp/simclr_golden_a/hue_*; do "
                     "cmp -s $f /tmp/simclr_golden_b/${f##*/} || exit 1; done"), 0);
    cr_expect_eq(run("./simclr golden --out /tmp/simclr_golden_a --cases hue,conv3d 2>&1 "
                     ">/dev/null | grep -q -- \"--cases 'hue,conv3d'\""), 0);
    run("rm -rf /tmp/simclr_golden_a /tmp/simclr_golden_b");
}

Test(cli_eval, raw_probe_prints_a_table_and_csv, .timeout = HANG_GUARD_SECONDS)
{
    cr_expect_eq(run("./simclr eval --features raw --data builtin:shapes --train-limit 300 "
                     "--test-limit 120 > /tmp/simclr_eval_table.txt 2> /dev/null"), 0);
    cr_expect_eq(run("grep -Eq '^raw +linear +300 +120 +0\\.[0-9]{4} +[01]\\.[0-9]{4}$' "
                     "/tmp/simclr_eval_table.txt"), 0);
    cr_expect_eq(run("grep -Eq '^raw +knn +300 +120 ' /tmp/simclr_eval_table.txt"), 0);
    cr_expect_eq(run("./simclr eval --features raw --data builtin:shapes --train-limit 300 "
                     "--test-limit 120 --probe knn --csv 2> /dev/null | head -1 | "
                     "grep -q '^features,probe,train,test,top1,top5,class_0'"), 0);
    /* the confusion matrix: a header and one row per class whose counts sum to the test set */
    cr_expect_eq(run("./simclr eval --features raw --data builtin:shapes --train-limit 300 "
                     "--test-limit 120 --probe knn --confusion 2> /dev/null | "
                     "awk '/confusion/ { on = 1; next } on { for (i = 2; i <= NF; i++) s += $i; "
                     "rows++ } END { exit !(rows == 6 && s == 120) }'"), 0);
    remove("/tmp/simclr_eval_table.txt");
}

Test(cli_eval, eval_and_embed_a_checkpoint, .timeout = HANG_GUARD_SECONDS)
{
    simclr_error err;
    safetensors_file file;
    const safetensors_tensor *features;
    cr_assert_eq(run("rm -rf /tmp/simclr_eval_run"), 0);
    cr_assert_eq(run(TINY "--epochs 1 --out /tmp/simclr_eval_run > /dev/null 2>&1"), 0);
    cr_expect_eq(run("./simclr eval --checkpoint /tmp/simclr_eval_run/checkpoint.safetensors "
                     "--train-limit 200 --test-limit 100 2> /dev/null | grep -Eq '^simclr +linear'"),
                 0);
    cr_expect_eq(run("./simclr eval --checkpoint /tmp/simclr_eval_run/checkpoint.safetensors "
                     "--init random --train-limit 200 --test-limit 100 --probe knn 2> /dev/null "
                     "| grep -Eq '^random +knn'"), 0);
    /* the test split alone (2,400 images; both splits are embedded by tests/check_install.sh) */
    cr_assert_eq(run("./simclr embed --checkpoint /tmp/simclr_eval_run/checkpoint.safetensors "
                     "--split test --out /tmp/simclr_eval_run/features.safetensors "
                     "> /dev/null 2>&1"), 0);
    cr_assert_eq(safetensors_read(&file, "/tmp/simclr_eval_run/features.safetensors", &err),
                 SIMCLR_OK, "%s", err.message);
    features = safetensors_find(&file, "test.features");
    cr_assert(features != NULL);
    cr_expect_eq(features->shape[0], 2400);
    cr_expect_eq(features->shape[1], 32, "width 1/16 of 512");
    cr_expect(safetensors_find(&file, "test.labels") != NULL);
    cr_expect(safetensors_find(&file, "train.features") == NULL, "--split test: no training rows");
    safetensors_free(&file);
    run("rm -rf /tmp/simclr_eval_run");
}

/* Two models in one process share nothing: training them in alternation gives each the same
 * bits as training it alone (no global state in the library: the random streams, the
 * allocation counter and the thread count are the only process-wide things, and none of them
 * changes a result). */
static void tiny_config(simclr_config *config, uint64_t seed, double width)
{
    *config = simclr_config_default();
    config->encoder.width = width;
    config->batch = 4;
    config->head.hidden_dim = 16;
    config->head.out_dim = 8;
    config->seed = seed;
}

static void fill_views(simclr_model *model, unsigned long tag)
{
    const size_t floats = 2 * model->config.batch * model->config.channels *
                          model->config.height * model->config.width;
    test_fill_uniform(model->views, floats, -2.0f, 2.0f, tag);
}

Test(train, two_models_in_one_process_do_not_interfere, .timeout = HANG_GUARD_SECONDS)
{
    simclr_config config_a, config_b;
    simclr_model a, b, alone;
    simclr_error err;
    float losses_a[3], losses_alone[3];
    int step;
    tiny_config(&config_a, 1, 0.0625);
    tiny_config(&config_b, 2, 0.125);
    cr_assert_eq(simclr_model_create(&a, &config_a, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_model_create(&b, &config_b, &err), SIMCLR_OK, "%s", err.message);
    for (step = 0; step < 3; step++) {
        fill_views(&a, 900 + (unsigned long)step);
        fill_views(&b, 950 + (unsigned long)step);
        losses_a[step] = simclr_train_step(&a, 0.1f);
        (void)simclr_train_step(&b, 0.2f);
    }
    cr_assert_eq(simclr_model_create(&alone, &config_a, &err), SIMCLR_OK);
    for (step = 0; step < 3; step++) {
        fill_views(&alone, 900 + (unsigned long)step);
        losses_alone[step] = simclr_train_step(&alone, 0.1f);
    }
    cr_expect(memcmp(losses_a, losses_alone, sizeof losses_a) == 0);
    cr_expect(memcmp(a.store.params, alone.store.params, a.store.param_floats * sizeof(float)) ==
                  0,
              "model a changed by training model b beside it");
    cr_expect(memcmp(a.store.buffers, alone.store.buffers,
                     a.store.buffer_floats * sizeof(float)) == 0);
    simclr_model_destroy(&a);
    simclr_model_destroy(&b);
    simclr_model_destroy(&alone);
}

/* The program's side of a non-finite loss: a checkpoint whose head has a NaN parameter (the
 * last batch norm's bias, after which no ReLU can hide it) is resumed; the first step's loss is
 * NaN, and `simclr train` stops with a message naming the step and exits 1. */
Test(train, the_program_exits_1_on_a_non_finite_loss, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_train_nan_cli/checkpoint.safetensors";
    const uint8_t nan_bits[4] = {0x00, 0x00, 0xc0, 0x7f}; /* a quiet NaN, little-endian */
    simclr_error err;
    safetensors_file file;
    const safetensors_tensor *bias;
    size_t header;
    FILE *patch;
    cr_assert_eq(run("rm -rf /tmp/simclr_train_nan_cli"), 0);
    cr_assert_eq(run(TINY "--epochs 2 --stop-after 1 --out /tmp/simclr_train_nan_cli "
                          "> /dev/null 2>&1"), 0);
    cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
    bias = safetensors_find(&file, "projection_head.layers.4.bias");
    cr_assert(bias != NULL && bias->dtype == ST_F32);
    header = (size_t)(file.data - file.bytes);
    patch = fopen(path, "r+b");
    cr_assert(patch != NULL);
    cr_assert_eq(fseek(patch, (long)(header + bias->begin), SEEK_SET), 0);
    cr_assert_eq(fwrite(nan_bits, 1, 4, patch), 4);
    fclose(patch);
    safetensors_free(&file);
    cr_expect_eq(run("./simclr train --resume /tmp/simclr_train_nan_cli/checkpoint.safetensors "
                     "> /dev/null 2> /tmp/simclr_train_nan_cli/err.txt"), 1);
    /* a NaN in a checkpoint is rejected when it is read, naming the tensor, before any step
     * (data/checkpoint.h); the loss never gets to be non-finite */
    cr_expect_eq(run("grep -q 'projection_head.layers.4.bias.*NaN' "
                     "/tmp/simclr_train_nan_cli/err.txt"), 0);
    run("rm -rf /tmp/simclr_train_nan_cli");
}
