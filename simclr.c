/*
 * simclr.c — SimCLR (Chen et al. 2020), the algorithm and the `simclr` program.
 *
 * Part 1, the algorithm (compiled into libsimclr.a), is the paper's Algorithm 1, top to bottom:
 *
 *     for every epoch:                                      simclr_train
 *         order = a shuffle of the training images          (seed, epoch)
 *         for every minibatch of N images in that order:    (the last partial batch is dropped)
 *             two augmented views x̃0, x̃1 of each image      simclr_batch_of_views
 *             h = f(x̃)   (ResNet encoder)                   simclr_train_step
 *             z = g(h)   (projection head)
 *             L = NT-Xent(z0, z1)                           (paper Eq. 1, mean over the 2N views)
 *             update f and g to minimise L                  (SGD or LARS, warm-up + cosine)
 *
 * What a run needs around it is eval/pretrain.c: the model's plan (simclr_model_create), its
 * checkpoints (its settings from the one table of data/run_settings.c), a run's parts opened
 * together; the trained encoder alone is eval/encoder.c. Part 2, the program (compiled into
 * `simclr` alone), parses flags from the tables, calls the library and prints: results on
 * stdout, progress and errors on stderr, exit status 0 only on success. The library never
 * prints.
 *
 * Where this differs from the official code (google-research/simclr): it repeats the dataset
 * and batches the stream, so no image is dropped, and counts round(warmup_epochs·n/B) warm-up
 * steps and n·E/B + 1 steps in all (integer division); here every epoch is a fresh shuffle
 * whose last partial batch is dropped (as LightlySSL's examples' drop_last=True), so a run has
 * ⌊n/N⌋·E steps with round(warmup_epochs·⌊n/N⌋) of warm-up: a few steps fewer.
 */
#include "simclr.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ========================================================================================== */
/* Part 1: the algorithm                                                                      */
/* ========================================================================================== */
#ifndef SIMCLR_PROGRAM_ONLY

/* ---- the minibatch: N images, two views each ------------------------------------------------ */

/* What makes the two views of one image (aug_batch_each_image's callback). */
typedef struct views_job {
    simclr_model *model;
    const aug_config *augment; /* for the image of `data` at its index, in `epoch` */
    size_t epoch;
} views_job;

static void two_views(void *context, size_t j, size_t index, const float *image, size_t height,
                      size_t width, float *workspace)
{
    const views_job *job = context;
    simclr_model *model = job->model;
    const size_t view_floats = model->config.channels * model->config.height * model->config.width;
    int v;
    for (v = 0; v < 2; v++)
        aug_view_of_image(model->views + rank_layout_view_row(&model->layout, j, v) * view_floats, v, image,
                          model->config.channels, height, width, job->augment,
                          model->config.seed, job->epoch, index, workspace);
}

int simclr_batch_of_views(simclr_model *model, aug_batch *w, const dataset *data,
                          const size_t *order, size_t step, const aug_config *augment,
                          size_t epoch, simclr_error *err)
{
    const size_t N = model->config.batch, n = model->layout.local;
    views_job job;
    size_t b;
    job.model = model, job.augment = augment, job.epoch = epoch;
    if (order == NULL)
        order = w->order;
    if (data->channels != model->config.channels)
        return simclr_fail(err, "train: the data has %lu channels, the model takes %lu",
                           (unsigned long)data->channels, (unsigned long)model->config.channels);
    if (augment->size != model->config.height || augment->size != model->config.width)
        return simclr_fail(err, "train: the views are %lu pixels a side, the model takes %lux%lu",
                           (unsigned long)augment->size, (unsigned long)model->config.height,
                           (unsigned long)model->config.width);
    if (w->batch != n || w->image_floats < (data->files ? 0 : data->channels * data->max_pixels) ||
        w->augment_floats < aug_batch_workspace_floats(augment, data->channels, data->max_height,
                                                       data->max_width, w->slots))
        return simclr_fail(err, "train: the views' workspace was made for another batch");
    if ((step + 1) * N > data->count || (order == w->order && data->count > w->count))
        return simclr_fail(err, "train: step %lu of an epoch of %lu steps", (unsigned long)step,
                           (unsigned long)(data->count / N));
    if (model->online.labels != NULL) /* for the online classifier: every view of the batch */
        for (b = 0; b < N; b++)
            model->online.labels[b] = model->online.labels[N + b] =
                dataset_label(data, order[step * N + b]);
    return aug_batch_each_image(w, data, order + step * N + model->layout.rank * n, two_views,
                                &job, err);
}

/* ---- one step ------------------------------------------------------------------------------- */

float simclr_train_step(simclr_model *model, float lr)
{
    const size_t N = model->config.batch, d = model->config.head.out_dim;
    const size_t features = model->encoder.feature_dim;
    const size_t passes = model->config.views_forward == SIMCLR_VIEWS_SEPARATE ? 2 : 1;
    const size_t per_pass = 2 * N / passes, local_per_pass = 2 * model->layout.local / passes;
    const size_t view_floats = model->config.channels * model->config.height * model->config.width;
    float *z0, *z1, *dz0, *dz1, loss;
    size_t p, i;
    memset(model->store.grads, 0, model->store.param_floats * sizeof(float));

    /* h = f(x̃) on the rank's views, gathered; z = g(h) on the whole batch's: the 2N views as
     * one batch, or view 0's N then view 1's N */
    for (p = 0; p < passes; p++) {
        resnet_forward(&model->encoder_acts[p], model->views + p * local_per_pass * view_floats,
                       &model->encoder, &model->store, 1);
        rank_layout_gather(&model->layout, model->ranks, model->features + p * per_pass * features,
                           model->gathered, model->encoder_acts[p].features, features);
        projection_head_forward(&model->head_acts[p], model->features + p * per_pass * features,
                                &model->head, &model->store, 1);
    }
    if (model->config.online_classes > 0) { /* on h, behind a stop-gradient */
        const float *h[2] = {model->features, model->features + N * features};
        online_classifier_step(&model->online, &model->store, h, passes);
    }
    z0 = model->head_acts[0].output;
    z1 = passes == 2 ? model->head_acts[1].output : z0 + N * d;
    dz0 = model->head_acts[0].grad_output;
    dz1 = passes == 2 ? model->head_acts[1].grad_output : dz0 + N * d;

    /* L = NT-Xent(z0, z1) (or the configured loss), then ∂L/∂z back through g, and the rank's
     * rows of ∂L/∂h back through f */
    loss = contrastive_loss_forward(&model->loss_cache, z0, z1, &model->config.loss, N, d);
    contrastive_loss_backward(dz0, dz1, &model->loss_cache, &model->config.loss, N, d);
    for (p = 0; p < passes; p++) {
        projection_head_backward(&model->head_acts[p], &model->head, &model->store);
        for (i = 0; i < local_per_pass; i++)
            memcpy(model->encoder_acts[p].grad_features + i * features,
                   model->head_acts[p].grad_input +
                       rank_layout_batch_row(&model->layout, model->layout.rank, i) * features,
                   features * sizeof(float));
        resnet_backward(&model->encoder_acts[p], &model->encoder, &model->store);
    }
    optimizer_step(&model->opt, &model->store, lr);
    model->step++;
    return loss;
}

/* ---- epochs, schedule, resume --------------------------------------------------------------- */

lr_schedule simclr_training_schedule(const simclr_training *training, size_t images)
{
    lr_schedule schedule;
    const size_t per_epoch = simclr_steps_per_epoch(images, training->model.batch);
    schedule.base_lr = training->base_lr;
    schedule.scaling = training->scaling;
    schedule.batch = training->model.batch;
    schedule.warmup_steps = (size_t)(training->warmup_epochs * (double)per_epoch + 0.5);
    schedule.total_steps = per_epoch * training->epochs;
    return schedule;
}

int simclr_train(simclr_model *model, const simclr_training *training, const dataset *data,
                 training_log *history, simclr_progress_fn progress, void *context,
                 simclr_error *err)
{
    const size_t N = model->config.batch;
    dataset images = *data; /* the first `limit` images */
    aug_batch workspace;
    simclr_progress report;
    lr_schedule schedule;
    simclr_error why;
    size_t per_epoch, epoch;
    int status = SIMCLR_OK, stop = 0;
    if (training->model.batch != N || training->model.seed != model->config.seed)
        return simclr_fail(err, "train: the run's batch and seed differ from the model's");
    if (training->limit > 0 && training->limit < images.count)
        images.count = training->limit;
    per_epoch = simclr_steps_per_epoch(images.count, N);
    if (per_epoch == 0)
        return simclr_fail(err, "train: a batch of %lu is more than the %lu training images",
                           (unsigned long)N, (unsigned long)images.count);
    if (model->step % per_epoch != 0 || model->step / per_epoch > training->epochs)
        return simclr_fail(err, "train: the model has taken %lu steps, which is not a whole "
                                "number of epochs of %lu steps up to %lu epochs",
                           (unsigned long)model->step, (unsigned long)per_epoch,
                           (unsigned long)training->epochs);
    if (history == NULL || history->capacity < per_epoch * training->epochs ||
        history->steps != model->step)
        return simclr_fail(err, "train: the history must hold the %lu steps taken and have "
                                "room for %lu", (unsigned long)model->step,
                           (unsigned long)(per_epoch * training->epochs));
    if (aug_batch_create(&workspace, model->layout.local, &training->augment, &images, err) !=
        SIMCLR_OK)
        return SIMCLR_FAILED;
    schedule = simclr_training_schedule(training, images.count);
    memset(&report, 0, sizeof report);
    report.steps_per_epoch = per_epoch;
    report.total_steps = per_epoch * training->epochs;
    report.first_step = model->step;
    for (epoch = model->step / per_epoch; epoch < training->epochs && !stop; epoch++) {
        size_t step;
        dataset_epoch_order(&images, model->config.seed, epoch, workspace.order);
        for (step = 0; step < per_epoch && !stop; step++) {
            const size_t global = epoch * per_epoch + step;
            const double start = timer_seconds();
            const double lr = lr_schedule_at(&schedule, global);
            float loss;
            if (simclr_batch_of_views(model, &workspace, &images, NULL, step, &training->augment,
                                      epoch, err) != SIMCLR_OK) {
                status = SIMCLR_FAILED;
                break;
            }
            loss = simclr_train_step(model, (float)lr);
            if (!isfinite(loss)) /* else the state may be poisoned though the loss is not */
                sprintf(why.message, "the loss became non-finite (%g)", (double)loss);
            if (!isfinite(loss) || checkpoint_check_finite(&model->store, model->opt.velocity,
                                                           "simclr", &why) != SIMCLR_OK) {
                status = simclr_fail(err, "%s at epoch %lu, step %lu", why.message,
                                     (unsigned long)(epoch + 1), (unsigned long)(global + 1));
                break; /* before the callback: a diverged state is never saved */
            }
            report.seconds = timer_seconds() - start;
            report.step = global + 1;
            report.epoch = epoch;
            report.step_in_epoch = step;
            report.loss = loss;
            report.learning_rate = lr;
            report.epoch_done = step + 1 == per_epoch;
            report.accuracy = model->config.online_classes > 0 ? model->online.accuracy : NAN;
            training_log_record(history, &report, 2.0 * (double)N);
            if (progress != NULL && progress(&report, model, history, context) != 0)
                stop = 1;
        }
        if (status != SIMCLR_OK)
            break;
    }
    aug_batch_destroy(&workspace);
    return status;
}

#endif /* SIMCLR_PROGRAM_ONLY */

/* ========================================================================================== */
/* Part 2: the program                                                                        */
/* ========================================================================================== */
#ifndef SIMCLR_LIBRARY_ONLY

#define PATH_CAPACITY 4096

#if SIMCLR_MPI
#include "nn/ranks_mpi.h"
#endif

/* `simclr train` under mpirun (a build with MPI=1): this process's rank of the job. Rank 0
 * prints the progress and the results and writes the run's files; every rank prints its own
 * failures, naming itself, and a failure on any rank ends the whole job (ranks_mpi_abort). */
static rank_group *job_ranks; /* NULL: one process */

static int job_rank(void)
{
    return ranks_exchange(job_ranks) ? job_ranks->rank : 0;
}

/* "rank R: " in a job of several ranks, else "": what a rank's messages start with. */
static const char *job_who(void)
{
    static char who[32];
    if (!ranks_exchange(job_ranks))
        return "";
    sprintf(who, "rank %d: ", job_rank());
    return who;
}

/* Where a failure is agreed (job_agree), every rank knows of it and the job closes normally;
 * any other failure on a rank ends the job by ranks_mpi_abort, as the others may be waiting in
 * an exchange with it. job_agreed_once: the setup's agreement was reached (a rank that fails
 * before it still joins it, so that the others stop there too). */
static int job_agreed_failure, job_agreed_once;

/* ranks_agree_reason (nn/ranks.h), telling what this rank has to tell; an agreed failure lets
 * the job close normally. One process: ok. */
static int job_agree(int ok, const double *values, const char *const *names, size_t count)
{
    simclr_error err;
    if (!ranks_exchange(job_ranks))
        return ok;
    job_agreed_once = 1;
    if (ranks_agree_reason(job_ranks, ok, values, names, count, &err) == SIMCLR_OK)
        return 1;
    if (err.message[0] != '\0')
        fprintf(stderr, "simclr: %s\n", err.message);
    job_agreed_failure = 1;
    return 0;
}

/* ---- flags from tables ---------------------------------------------------------------------- */

static const char *one_line(const simclr_error *err) /* control characters (file names) escaped */
{
    static char text[4 * sizeof err->message];
    return simclr_escape(text, sizeof text, err->message);
}

/* Runs body as the job: in one process, or under mpirun (MPI=1 builds) on every rank, with
 * job_ranks set. A failure on a rank that was not agreed ends the whole job, as the others may
 * be waiting in an exchange with it; with `agrees`, a rank that fails before the setup's
 * agreement (job_agree) joins it first, so that the job stops there on every rank. */
static int job_run(int (*body)(int argc, char **argv, void *context), int argc, char **argv,
                   void *context, int agrees)
{
#if SIMCLR_MPI
    rank_group group;
    simclr_error err;
    int status;
    if (ranks_mpi_open(&group, NULL, NULL, &err) != SIMCLR_OK) { /* every rank fails alike */
        if (group.rank == 0)
            fprintf(stderr, "simclr: %s\n", one_line(&err));
        ranks_mpi_close(&group);
        return 1;
    }
    job_ranks = &group;
    status = body(argc, argv, context);
    if (status != 0 && agrees && !job_agreed_once)
        (void)job_agree(0, NULL, NULL, RANKS_AGREE_MAX);
    if (status != 0 && ranks_exchange(&group) && !job_agreed_failure)
        ranks_mpi_abort(&group, status);
    job_ranks = NULL;
    ranks_mpi_close(&group);
    return status;
#else
    (void)agrees;
    return body(argc, argv, context);
#endif
}

/* Parses a command's flags from its tables; returns -1 to go on, else the exit status: 0 after
 * printing --help (usage, then a line per flag), 2 after printing what was wrong. */
static int command_flags(int argc, char **argv, const settings_group *groups, size_t count,
                         const char *command, const char *usage)
{
    char text[16384];
    simclr_error err;
    switch (settings_parse_arguments(groups, count, argc, argv, &err)) {
    case SETTINGS_HELP:
        settings_usage(groups, count, text, sizeof text);
        printf("%s%s", usage, text);
        return 0;
    case SIMCLR_OK:
        return -1;
    default:
        fprintf(stderr, "simclr: %s: %s (see simclr %s --help)\n", command, one_line(&err), command);
        return 2;
    }
}

#define GROUP(table, object) settings_group_of(table, sizeof table / sizeof table[0], object)
#define OPTION(type, flag, kind, field, low, high, name, help) \
    {flag, NULL, kind, offsetof(type, field), low, high, NULL, NULL, sizeof(((type *)0)->field), \
     name, help}
#define CHOICES(type, flag, field, names, help) \
    {flag, NULL, SETTING_CHOICE, offsetof(type, field), 0, 0, names, NULL, 0, NULL, help}
#define THREADS(type) \
    OPTION(type, "threads", SETTING_SIZE, threads, 1, 1024, "T", SETTINGS_THREADS_HELP)

static int failed(const simclr_error *err) /* prints a library call's failure: status 1 */
{
    fprintf(stderr, "simclr: %s%s\n", job_who(), one_line(err));
    return 1;
}

static void report_skipped(const dataset *data) /* one line for what a folder's listing skipped */
{
    char line[4400]; /* a folder's path and the sentence */
    if (dataset_skipped_note(data, line, sizeof line))
        fprintf(stderr, "simclr: %s\n", line);
}

/* ---- what simclr train and simclr finetune share --------------------------------------------- */

typedef struct run_options {
    char out[PATH_CAPACITY], resume[PATH_CAPACITY];
    size_t threads, stop_after, resume_epoch;
    int online; /* simclr train --online-classifier: 0 auto, 1 on, 2 off */
} run_options;

static const char *const online_names[] = {"auto", "on", "off", NULL};

static const setting run_option_table[] = { /* finetune takes the first four */
    OPTION(run_options, "out", SETTING_TEXT, out, 0, 0, "DIR",
           "where checkpoints and logs go (default simclr-run, or simclr-finetune; with "
           "--resume, that run's own)"),
    OPTION(run_options, "resume", SETTING_TEXT, resume, 0, 0, "CKPT",
           "continue the run of a checkpoint with its settings (only --epochs, --out, --threads "
           "and --stop-after may be given with it)"),
    THREADS(run_options),
    OPTION(run_options, "stop-after", SETTING_SIZE, stop_after, 0, 1e6, "E",
           "stop after E epochs of this invocation, as an interruption would (0: never)"),
    CHOICES(run_options, "online-classifier", online, online_names,
            "a linear classifier on h behind a stop-gradient, trained on the labels alongside "
            "(its top-1 on the training views in the progress line and log.csv; the encoder "
            "is the same bits without it); auto: on when the data has classes")};

/* With --resume, the settings are the checkpoint's: only --epochs (no fewer than the epochs
 * done) and the options may be given; --out is the run's own folder unless given. 0 when so,
 * else 2 after saying what is wrong. */
static int resume_flags(const setting *table, size_t count, const unsigned char *given,
                        size_t epochs, run_options *options, int out_given)
{
    size_t i;
    if (!out_given)
        run_files_folder_of(options->out, sizeof options->out, options->resume);
    for (i = 0; i < count; i++)
        if (given[i] && strcmp(table[i].key, "epochs") != 0) {
            fprintf(stderr, "simclr: --resume takes the run's settings from the checkpoint; only "
                            "--epochs, --out, --threads and --stop-after may be given with it\n");
            return 2;
        }
    if (epochs >= options->resume_epoch)
        return 0;
    fprintf(stderr, "simclr: --epochs: the checkpoint has already done %lu epochs\n",
            (unsigned long)options->resume_epoch);
    return 2;
}

/* What a training command's progress callback needs. */
typedef struct command_run {
    const run_options *options;
    const void *settings;         /* the run's: simclr_training or finetune_session */
    double items_per_step;        /* 2N views, or B images */
    const char *unit;
    size_t epochs_run;
    double start, last_report, accuracy;
    int failed;
} command_run;

/* Progress on stderr, at most once a second and at every epoch's end. Returns 1 at an epoch's
 * end, with the checkpoint's path in `path`, else 0. */
static int progress_line(command_run *run, const training_progress *p, const char *accuracy,
                         char path[PATH_CAPACITY + 32])
{
    const double now = timer_seconds(), elapsed = now - run->start;
    const double done = (double)(p->step - p->first_step);
    if (now - run->last_report >= 1.0 || p->epoch_done) {
        fprintf(stderr, "epoch %lu/%lu  step %lu/%lu  loss %.4f  lr %.4g%s  %.0f %s/s  ETA %.0f s\n",
                (unsigned long)(p->epoch + 1), (unsigned long)(p->total_steps / p->steps_per_epoch),
                (unsigned long)(p->step_in_epoch + 1), (unsigned long)p->steps_per_epoch,
                (double)p->loss, p->learning_rate, accuracy,
                run->items_per_step * done / (elapsed > 0 ? elapsed : 1e-9), run->unit,
                elapsed / done * (double)(p->total_steps - p->step));
        run->last_report = now;
    }
    snprintf(path, PATH_CAPACITY + 32, "%s/checkpoint.safetensors", run->options->out);
    return p->epoch_done;
}

/* At an epoch's end, after the caller wrote the checkpoint (`written`): log.csv and loss.svg.
 * Returns nonzero to stop: a failure, --stop-after's epochs done, or a caught signal. */
static int epoch_end(command_run *run, int written, const training_log *log, size_t per_epoch,
                     simclr_error *err)
{
    run->epochs_run++;
    if (written != SIMCLR_OK || run_files_write(run->options->out, log, per_epoch, err) != SIMCLR_OK)
        return run->failed = failed(err); /* 1: stop */
    return run->epochs_run == run->options->stop_after || run_files_signal_caught() != 0;
}

/* How a training command's run ended: its error (with the last checkpoint), a failure the
 * callback printed, a caught SIGINT/SIGTERM (data/run_files.h: status 128 + its number), or
 * -1: complete, and the caller prints its summary. */
static int run_ended(int status, const simclr_error *err, const command_run *run,
                     const char *checkpoint, size_t step)
{
    const char *last = job_rank() != 0                ? "rank 0's"
                       : file_is_present(checkpoint) ? checkpoint
                                                     : "none written";
    if (status != SIMCLR_OK)
        fprintf(stderr, "simclr: %s%s; stopping (last checkpoint: %s)\n", job_who(),
                one_line(err), last);
    else if (!run->failed && run_files_signal_caught() != 0) {
        if (job_rank() == 0)
            fprintf(stderr, "simclr: stopped by signal %d at step %lu (last checkpoint: %s)\n",
                    run_files_signal_caught(), (unsigned long)step, last);
        return 128 + run_files_signal_caught();
    }
    return status != SIMCLR_OK || run->failed ? 1 : -1;
}

/* ---- simclr train --------------------------------------------------------------------------- */

static const char train_usage[] =
    "usage: simclr train [--data SRC] [--out DIR] [options]\n"
    "       simclr train --resume DIR/checkpoint.safetensors [--epochs E]\n\n"
    "Trains a SimCLR encoder (Chen et al. 2020, Algorithm 1). Progress on stderr, a summary on\n"
    "stdout. At every epoch's end DIR gets, each written atomically, checkpoint.safetensors (the\n"
    "model under torchvision's names, the optimiser, the settings), log.csv and loss.svg.\n\n";

/* Progress; at every epoch's end the checkpoint, log.csv and loss.svg; the stops. */
static int train_progress(const simclr_progress *p, simclr_model *model,
                          const training_log *log, void *context)
{
    command_run *run = context;
    char path[PATH_CAPACITY + 32], online[40] = "";
    simclr_error err;
    if (p->epoch_done && ranks_exchange(job_ranks)) { /* every rank the same weights */
        static const char *const names[2] = {"model (a fingerprint)", "step"};
        const double mine[2] = {(double)pretrain_model_fingerprint(model), (double)p->step};
        if (!job_agree(1, mine, names, 2))
            return run->failed = 1; /* stop, before the checkpoint */
    }
    if (job_rank() != 0) { /* rank 0 prints and writes; every rank stops where it does */
        if (!p->epoch_done)
            return run_files_signal_caught() != 0;
        run->epochs_run++;
        return run->epochs_run == run->options->stop_after || run_files_signal_caught() != 0;
    }
    if (log->accuracy != NULL) /* the online classifier's top-1 over this epoch's views */
        sprintf(online, "  online top-1 %.4f",
                training_log_mean_accuracy(log, p->step - p->step_in_epoch - 1, p->step));
    if (!progress_line(run, p, online, path)) /* a caught signal stops the run between steps */
        return run_files_signal_caught() != 0;
    return epoch_end(run, simclr_checkpoint_write(path, model, run->settings, p->epoch + 1, log,
                                                  &err),
                     log, p->steps_per_epoch, &err);
}

/* Trains with resolved settings; resumes from options->resume when given. A SIGINT or SIGTERM
 * (data/run_files.h) ends the run between steps, with status 128 + the signal's number. */
static int run_training(simclr_training *training, const run_options *options)
{
    pretrain_session session;
    simclr_error err;
    command_run run;
    const simclr_model *model = &session.model;
    const dataset *data = &session.data;
    double mine[PRETRAIN_AGREED];
    size_t first;
    char lock[PATH_CAPACITY + 8] = "", path[PATH_CAPACITY + 32];
    long stale;
    int status = 1;
    if (job_rank() == 0 && run_files_start(options->out, lock, sizeof lock, &stale, &err) !=
                               SIMCLR_OK)
        return failed(&err); /* the folder made, locked and checked writable: data/run_files.h */
    if (job_rank() == 0 && stale != 0)
        fprintf(stderr, "simclr: %s: took over the lock of process %ld (no longer running)\n",
                options->out, stale);
    if (pretrain_session_open(&session, training, options->resume,
                              (pretrain_online)options->online, job_ranks, &err) != SIMCLR_OK) {
        status = failed(&err);
        run_files_unlock(lock);
        return status;
    }
    if (options->resume[0] != '\0' && job_rank() == 0)
        fprintf(stderr, "simclr: resuming %s at step %lu\n", options->resume,
                (unsigned long)model->step); /* simclr_train checks it is a whole epoch */
    if (ranks_exchange(job_ranks)) { /* every rank: the same images, model and step */
        pretrain_session_agreed(&session, mine);
        if (!job_agree(1, mine, pretrain_agreed_names, PRETRAIN_AGREED))
            goto done;
    }
    if (job_rank() == 0)
        report_skipped(data);
    if (ranks_exchange(job_ranks) && job_rank() == 0)
        fprintf(stderr, "simclr: %d ranks, %lu images and %lu of the %lu shards each\n",
                job_ranks->size, (unsigned long)model->layout.local,
                (unsigned long)(model->config.shards / (size_t)job_ranks->size),
                (unsigned long)model->config.shards);
    if (job_rank() == 0)
        fprintf(stderr, "simclr: %s (%s stem, width %g) + %lu-layer head on %s: %lu images of "
                        "%lux%s%lux%lu, %lu steps of %lu per epoch, from step %lu of %lu, %d thread(s)\n",
                resnet_arch_name(training->model.encoder.arch),
                resnet_stem_name(training->model.encoder.stem), training->model.encoder.width,
                (unsigned long)training->model.head.num_layers, training->data,
                (unsigned long)session.images, (unsigned long)data->channels,
                data->height == 0 ? "(up to) " : "", (unsigned long)data->max_height,
                (unsigned long)data->max_width, (unsigned long)session.steps_per_epoch,
                (unsigned long)training->model.batch, (unsigned long)model->step,
                (unsigned long)(session.steps_per_epoch * training->epochs),
                parallel_thread_count());
    memset(&run, 0, sizeof run);
    run.options = options, run.settings = training, run.unit = "views";
    run.items_per_step = 2.0 * (double)training->model.batch;
    run.start = timer_seconds(), run.last_report = -1e9, first = model->step;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", options->out);
    if (!ranks_exchange(job_ranks)) /* from here a SIGINT or SIGTERM stops the run between steps */
        run_files_catch_signals(); /* (not a rank: mpirun's SIGTERM must end it even mid-exchange) */
    status = run_ended(simclr_train(&session.model, training, data, &session.log, train_progress,
                                    &run, &err),
                       &err, &run, path, model->step);
    if (status == -1 && job_rank() != 0)
        status = 0;
    if (status == -1) {
        const double elapsed = timer_seconds() - run.start;
        printf("trained %s for %lu of %lu epochs (%lu steps this run, %lu in all): final "
               "loss %.4f, %.0f views/s, %.1f s; checkpoint %s\n",
               resnet_arch_name(training->model.encoder.arch),
               (unsigned long)(model->step / session.steps_per_epoch),
               (unsigned long)training->epochs, (unsigned long)(model->step - first),
               (unsigned long)model->step,
               model->step > 0 ? (double)session.log.loss[model->step - 1] : 0.0,
               run.items_per_step * (double)(model->step - first) / (elapsed > 0 ? elapsed : 1e-9),
               elapsed, path);
        status = 0;
    }
done:
    run_files_unlock(lock);
    pretrain_session_close(&session);
    return status;
}

/* The settings of a new run: the preset (named, or following from the data), every flag on top
 * of it, then the defaults that follow from other settings. Or those of the run resumed. */
static int command_train_flags(int argc, char **argv, void *unused);

static int command_train(int argc, char **argv)
{
    return job_run(command_train_flags, argc, argv, NULL, 1);
}

static int command_train_flags(int argc, char **argv, void *unused)
{
    (void)unused;
    simclr_training training = simclr_training_default();
    run_options options;
    unsigned char given[128], option_given[8];
    settings_group groups[2];
    simclr_error err;
    dataset data;
    int status;
    memset(&options, 0, sizeof options), memset(given, 0, sizeof given);
    memset(option_given, 0, sizeof option_given);
    strcpy(options.out, "simclr-run");
    groups[0] = settings_group_of(run_settings, run_setting_count, &training);
    groups[1] = GROUP(run_option_table, &options);
    groups[0].given = given, groups[1].given = option_given;
    if ((status = command_flags(argc, argv, groups, 2, "train", train_usage)) >= 0)
        return status; /* the first pass: --data, --preset and --resume are what count */
    if (options.resume[0] != '\0') {
        if (pretrain_resume_settings(options.resume, &training, &options.resume_epoch, &err) !=
            SIMCLR_OK) {
            fprintf(stderr, "simclr: %s--resume: %s\n", job_who(), one_line(&err));
            return 2;
        }
    } else if (dataset_open(&data, training.data, 1, 0, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s--data: %s\n", job_who(), one_line(&err));
        return 2;
    } else if (run_settings_preset(&training, given, &data, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s--preset: %s\n", job_who(), one_line(&err));
        dataset_close(&data);
        return 2;
    }
    memset(given, 0, sizeof given); /* the second pass: every flag on top of those */
    command_flags(argc, argv, groups, 2, "train", train_usage);
    if (options.resume[0] == '\0') {
        run_settings_derive(&training, given, &data);
        dataset_close(&data);
    }
    if (options.resume[0] != '\0' &&
        (status = resume_flags(run_settings, run_setting_count, given, training.epochs,
                               &options, option_given[0])) != 0)
        return status;
    if (run_settings_check(&training, "simclr train", &err) != SIMCLR_OK)
        return failed(&err) + 1;
    parallel_set_thread_count((int)options.threads);
    return run_training(&training, &options);
}

/* ---- simclr eval ---------------------------------------------------------------------------- */

static const char eval_usage[] =
    "usage: simclr eval (--checkpoint CKPT | --features raw) [--data SRC] [--probe P] ...\n\n"
    "Features of un-augmented images (both splits) from the frozen encoder, then the linear\n"
    "probe (L2 logistic regression on standardised features, L-BFGS) and/or the kNN monitor\n"
    "(cosine similarity, top K vote exp(sim/T)): top-1, top-5 and per-class accuracy on stdout.\n"
    "Without held-out images (an image folder without DIR/train + DIR/val or DIR/test, and no\n"
    "--test-data), the training images are evaluated again: the column reads \"again\".\n"
    "A checkpoint of simclr finetune is evaluated by its own classifier (probe \"fc\").\n\n";

static void eval_note(void *context, const char *line)
{
    (void)context;
    fprintf(stderr, "simclr: %s\n", line);
}

static int command_eval(int argc, char **argv)
{
    evaluation_settings settings = evaluation_settings_default();
    settings_group group = settings_group_of(evaluation_table, evaluation_setting_count, &settings);
    simclr_error err;
    char *text = NULL;
    int status;
    if ((status = command_flags(argc, argv, &group, 1, "eval", eval_usage)) >= 0)
        return status;
    if ((settings.checkpoint[0] == '\0') == (settings.features == 0)) {
        fprintf(stderr, "simclr: eval: give exactly one of --checkpoint CKPT and --features raw\n");
        return 2;
    }
    parallel_set_thread_count((int)settings.threads);
    status = evaluation_run(&text, &settings, eval_note, NULL, &err);
    if (text != NULL)
        fputs(text, stdout);
    simclr_free(text);
    return status == SIMCLR_OK ? 0 : failed(&err);
}

/* ---- simclr embed, simclr export ------------------------------------------------------------ */

typedef struct embed_options { /* simclr embed, export and predict */
    char checkpoint[PATH_CAPACITY], out[PATH_CAPACITY];
    char data[SIMCLR_DATA_MAX], test_data[SIMCLR_DATA_MAX];
    int split;
    size_t batch, threads, limit;
} embed_options;

static const char *const embed_split_names[] = {"both", "train", "test", NULL};

static const setting embed_table[] = { /* export takes the first two, embed seven, predict all */
    OPTION(embed_options, "checkpoint", SETTING_TEXT, checkpoint, 0, 0, "CKPT",
           "a checkpoint of simclr train or an encoder of simclr export; for predict, a "
           "checkpoint of simclr finetune (required)"),
    OPTION(embed_options, "out", SETTING_TEXT, out, 0, 0, "FILE",
           "the file to write, atomically (required; predict: default stdout)"),
    OPTION(embed_options, "data", SETTING_TEXT, data, 0, 0, "SRC",
           "the dataset (default: the checkpoint's)"),
    OPTION(embed_options, "test-data", SETTING_TEXT, test_data, 0, 0, "SRC",
           "the held-out images (default: the test split of --data)"),
    CHOICES(embed_options, "split", split, embed_split_names,
            "which splits (predict: one of them, default test)"),
    OPTION(embed_options, "batch", SETTING_SIZE, batch, 1, 4096, "B", "images per forward pass"),
    THREADS(embed_options),
    OPTION(embed_options, "limit", SETTING_SIZE, limit, 0, 1e15, "N",
           "the first N images only (0: all)")};

static const char embed_usage[] =
    "usage: simclr embed --checkpoint CKPT --out FILE.safetensors [--data SRC] [--split S] ...\n\n"
    "Writes the frozen encoder's features h of the chosen splits' images: train.features (n, d)\n"
    "F32, train.labels (n) I64, for image folders train.paths (n, L) U8 (each row's file name\n"
    "as the file system holds it, padded with NUL), the same for test, classes (K, L) U8 (class\n"
    "k's name in row k); in __metadata__ checkpoint, data, test_data, held_out (0: the test\n"
    "split is the training images again). Python: bytes(row).rstrip(b\"\\0\").decode().\n\n";

static const char export_usage[] =
    "usage: simclr export --checkpoint CKPT --out encoder.safetensors\n\n"
    "Writes the encoder alone: the backbone.* tensors (torchvision's names after the prefix)\n"
    "and, in __metadata__, what using it needs: the architecture, the view size and the\n"
    "normalisation. Small enough to compile into firmware as a const array, which\n"
    "simclr_encoder_load_bytes (eval/encoder.h) reads.\n\n";

static int command_embed(int argc, char **argv, int export_only)
{
    embed_options options;
    settings_group group;
    simclr_encoder encoder;
    simclr_error err;
    size_t counts[2];
    int status;
    memset(&options, 0, sizeof options);
    options.batch = 64;
    group = settings_group_of(embed_table, export_only ? 2 : 7, &options);
    if ((status = command_flags(argc, argv, &group, 1, export_only ? "export" : "embed",
                                export_only ? export_usage : embed_usage)) >= 0)
        return status;
    if (options.checkpoint[0] == '\0' || options.out[0] == '\0' ||
        strcmp(options.checkpoint, options.out) == 0) { /* never overwrite what is being read */
        fprintf(stderr, "simclr: --checkpoint and --out are required, and must differ\n");
        return 2;
    }
    parallel_set_thread_count((int)options.threads);
    if (simclr_encoder_load(&encoder, options.checkpoint, 0, export_only ? 1 : options.batch,
                            &err) != SIMCLR_OK)
        return failed(&err);
    if (export_only) {
        status = simclr_encoder_export(options.out, &encoder, &err);
        if (status == SIMCLR_OK)
            printf("wrote %s: the %s encoder, %lu floats\n", options.out,
                   resnet_arch_name(encoder.net.config.arch),
                   (unsigned long)encoder.store.param_floats);
        simclr_encoder_destroy(&encoder);
        return status == SIMCLR_OK ? 0 : failed(&err);
    }
    status = simclr_encoder_write_features(&encoder, options.data, options.test_data,
                                           options.split, options.out, options.checkpoint,
                                           counts, &err);
    if (status == SIMCLR_OK)
        printf("wrote %s: %lu training and %lu test features of %lu dimensions\n", options.out,
               (unsigned long)counts[0], (unsigned long)counts[1],
               (unsigned long)encoder.net.feature_dim);
    simclr_encoder_destroy(&encoder);
    return status == SIMCLR_OK ? 0 : failed(&err);
}

/* ---- simclr finetune ------------------------------------------------------------------------ */

static const char finetune_usage[] =
    "usage: simclr finetune --checkpoint CKPT [--labels 1%|10%|N] [--from-scratch] [options]\n"
    "       simclr finetune --resume DIR/checkpoint.safetensors [--epochs E]\n\n"
    "Fine-tunes the pretrained encoder and a linear classifier on a few labels (the paper's\n"
    "semi-supervised protocol): a class-balanced subset of the training labels, drawn from the\n"
    "seed, cross-entropy, SGD with Nesterov momentum, random crop and flip only; the test\n"
    "split's top-1 after every epoch. DIR gets labelled.csv (the subset) and, at every epoch's\n"
    "end, checkpoint.safetensors (torchvision's names, conv1.weight ... fc.bias), log.csv and\n"
    "loss.svg. --from-scratch trains the same network from random weights: the baseline.\n\n";

/* Progress with the test top-1; at every epoch's end the checkpoint, log.csv and loss.svg. */
static int finetune_report(const finetune_progress *p, finetune_model *model,
                           const training_log *log, void *context)
{
    command_run *run = context;
    const size_t labelled = ((const finetune_session *)run->settings)->labelled;
    char path[PATH_CAPACITY + 32], tested[32] = "";
    simclr_error err;
    if (!isnan(p->accuracy))
        sprintf(tested, "  test top-1 %.4f", run->accuracy = p->accuracy);
    if (!progress_line(run, p, tested, path))
        return run_files_signal_caught() != 0;
    return epoch_end(run, finetune_checkpoint_write(path, model, p->epoch + 1, labelled, log, &err),
                     log, p->steps_per_epoch, &err);
}

static int run_finetune(finetune_settings *s, const run_options *options)
{
    finetune_session session;
    command_run run;
    simclr_error err;
    const char *from = options->resume[0] != '\0' ? options->resume : s->pretrained;
    char lock[PATH_CAPACITY + 8] = "", path[PATH_CAPACITY + 32];
    long stale;
    int status;
    snprintf(path, sizeof path, "%s/labelled.csv", options->out);
    if (run_files_start(options->out, lock, sizeof lock, &stale, &err) != SIMCLR_OK ||
        finetune_session_open(&session, s, from, options->resume[0] != '\0', path, &err) !=
            SIMCLR_OK) {
        run_files_unlock(lock);
        return failed(&err);
    }
    report_skipped(&session.train);
    fprintf(stderr, "simclr: fine-tuning %s %s (%s) on %lu labelled images (%s of each of %d "
                    "classes) of %s, testing on %lu; %lu epochs of %lu steps of %lu, from step %lu\n",
            s->from_scratch ? "from scratch" : "the encoder of", s->from_scratch ? "" : from,
            resnet_arch_name(session.model.net.config.arch), (unsigned long)session.labelled,
            s->labels, session.train.classes, s->data, (unsigned long)session.test.count,
            (unsigned long)session.epochs, (unsigned long)session.steps_per_epoch,
            (unsigned long)s->batch, (unsigned long)session.model.step);
    memset(&run, 0, sizeof run);
    run.options = options, run.settings = &session, run.unit = "images";
    run.items_per_step = (double)s->batch;
    run.start = timer_seconds(), run.last_report = -1e9;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", options->out);
    run_files_catch_signals();
    status = run_ended(finetune_run(&session.model, &session.train, session.subset,
                                    session.labelled, &session.test, &session.evaluator,
                                    &session.log, finetune_report, &run, &err),
                       &err, &run, path, session.model.step);
    if (status == -1) {
        printf("fine-tuned %s%s on %lu labelled images for %lu of %lu epochs: test top-1 %.4f "
               "(%lu images), %.1f s; checkpoint %s\n",
               resnet_arch_name(session.model.net.config.arch),
               s->from_scratch ? " from scratch" : "", (unsigned long)session.labelled,
               (unsigned long)(session.model.step / session.steps_per_epoch),
               (unsigned long)session.epochs, run.accuracy, (unsigned long)session.test.count,
               timer_seconds() - run.start, path);
        status = 0;
    }
    run_files_unlock(lock);
    finetune_session_close(&session);
    return status;
}

static int command_finetune(int argc, char **argv)
{
    finetune_settings settings = finetune_settings_default();
    run_options options;
    unsigned char given[32], option_given[8];
    settings_group groups[2];
    simclr_error err;
    size_t epochs;
    int status;
    memset(&options, 0, sizeof options), memset(given, 0, sizeof given);
    memset(option_given, 0, sizeof option_given);
    strcpy(options.out, "simclr-finetune");
    groups[0] = settings_group_of(finetune_table, finetune_setting_count, &settings);
    groups[1] = settings_group_of(run_option_table, 4, &options);
    groups[0].given = given, groups[1].given = option_given;
    if ((status = command_flags(argc, argv, groups, 2, "finetune", finetune_usage)) >= 0)
        return status;
    if (options.resume[0] != '\0') { /* the run's own settings, with --epochs on top */
        epochs = settings.epochs;
        if (finetune_resume_settings(options.resume, &settings, &options.resume_epoch, &err) !=
            SIMCLR_OK) {
            fprintf(stderr, "simclr: %s--resume: %s\n", job_who(), one_line(&err));
            return 2;
        }
        if (given[6]) /* --epochs */
            settings.epochs = epochs;
        if ((status = resume_flags(finetune_table, finetune_setting_count, given,
                                   finetune_epochs(&settings), &options, option_given[0])) != 0)
            return status;
    } else if (settings.pretrained[0] == '\0') {
        fprintf(stderr, "simclr: finetune: --checkpoint CKPT (the pretrained encoder) is "
                        "required\n");
        return 2;
    }
    parallel_set_thread_count((int)options.threads);
    return run_finetune(&settings, &options);
}

/* ---- simclr golden -------------------------------------------------------------------------- */

typedef struct golden_options {
    char out[PATH_CAPACITY], cases[512];
    size_t threads;
} golden_options;

static const setting golden_table[] = {
    OPTION(golden_options, "out", SETTING_TEXT, out, 0, 0, "DIR",
           "the folder to write (made if missing; required)"),
    OPTION(golden_options, "cases", SETTING_TEXT, cases, 0, 0, "OPS",
           "only the cases of these ops, comma-separated (default: all; a full set's "
           "README.txt lists the ops), each file the same bits as in the full set"),
    THREADS(golden_options)};

static const char golden_usage[] =
    "usage: simclr golden --out DIR [--cases OPS] [--threads T]\n\n"
    "Writes reference outputs (every layer forward and backward, NT-Xent, each augmentation\n"
    "op, ResNet-18 with both stems, a SimCLR training step with the views as one batch and as\n"
    "two, the random streams, the seeded views of each preset, three steps of SGD and of LARS,\n"
    "one step from images to update), one self-describing safetensors file per case, and\n"
    "DIR/README.txt listing them with the conventions they follow. tests/crosscheck_torch.py\n"
    "DIR checks them against PyTorch.\n"
    "The files are the same bits for any thread count and with OpenMP off.\n\n";

/* The model's functions, for the reference cases that train one (eval/golden_train.h) and
 * for simclr bench step (eval/bench.h). */
static const golden_simclr golden_model = {simclr_model_create, simclr_model_destroy,
                                           simclr_batch_of_views, simclr_train_step,
                                           simclr_model_create_ranks, NULL};

static void golden_progress(const char *path) { fprintf(stderr, "simclr: wrote %s\n", path); }

static int command_golden(int argc, char **argv)
{
    golden_options options;
    settings_group group;
    simclr_error err;
    int status;
    memset(&options, 0, sizeof options);
    group = GROUP(golden_table, &options);
    if ((status = command_flags(argc, argv, &group, 1, "golden", golden_usage)) >= 0)
        return status;
    if (options.out[0] == '\0') {
        fprintf(stderr, "simclr: golden: --out DIR is required\n");
        return 2;
    }
    parallel_set_thread_count((int)options.threads);
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
    fprintf(stderr, "simclr: golden: note: this build has FLT_EVAL_METHOD %d, not 0: its outputs "
                    "differ from other platforms' in the last bits, the training cases' more "
                    "(see the README)\n",
            (int)FLT_EVAL_METHOD); /* the references round every float operation to float */
#endif
    if (run_files_make_folder(options.out, &err) != SIMCLR_OK ||
        golden_write_all(options.out, options.cases[0] != '\0' ? options.cases : NULL,
                         golden_train_cases, (void *)&golden_model, golden_progress, &err) !=
            SIMCLR_OK)
        return failed(&err);
    printf("wrote the reference outputs to %s (listed in %s/README.txt)\n", options.out,
           options.out);
    return 0;
}

/* ---- simclr augment ------------------------------------------------------------------------- */

typedef struct augment_options {
    char out[PATH_CAPACITY], data[SIMCLR_DATA_MAX];
    size_t n, views;
    uint64_t seed;
    int test;
} augment_options;

static const char *const split_names[] = {"train", "test", NULL};

static const setting augment_table[] = {
    OPTION(augment_options, "out", SETTING_TEXT, out, 0, 0, "FILE",
           "the image to write: PNG, or PPM/PGM when FILE ends in .ppm/.pgm (required)"),
    OPTION(augment_options, "data", SETTING_TEXT, data, 0, 0, "SRC", "the dataset"),
    OPTION(augment_options, "n", SETTING_SIZE, n, 1, 256, "N", "images, one per row"),
    OPTION(augment_options, "views", SETTING_SIZE, views, 1, 64, "V", "views per image"),
    OPTION(augment_options, "seed", SETTING_SEED, seed, 0, 0, "S", "the run's seed"),
    CHOICES(augment_options, "split", test, split_names, "which split")};

static const char augment_usage[] =
    "usage: simclr augment --out FILE [--data SRC] [--n N] [--views V] [--preset P] ...\n\n"
    "Writes a preview grid of SimCLR's augmentations: one row per image, the original (resized\n"
    "to the view size) followed by V augmented views as training draws them (without the final\n"
    "normalisation, so that colours stay viewable). The preset and the augmentation flags of\n"
    "simclr train apply.\n\n";

static int command_augment(int argc, char **argv)
{
    simclr_training training = simclr_training_default();
    augment_options options;
    settings_group groups[2];
    simclr_error err;
    dataset data;
    size_t height, width;
    int status;
    memset(&options, 0, sizeof options);
    strcpy(options.data, "builtin:shapes");
    options.n = 8, options.views = 6;
    groups[0] = GROUP(augment_table, &options);
    groups[1] = settings_group_of(run_settings, run_setting_count, &training);
    groups[1].from = offsetof(simclr_training, augment); /* the augmentation and the preset */
    groups[1].to = offsetof(simclr_training, data);
    /* twice: the preset first, so that the other flags apply on top of it */
    if ((status = command_flags(argc, argv, groups, 2, "augment", augment_usage)) >= 0)
        return status;
    if (aug_config_preset(&training.augment, training.preset, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --preset: %s\n", one_line(&err));
        return 2;
    }
    command_flags(argc, argv, groups, 2, "augment", augment_usage);
    if (options.out[0] == '\0') {
        fprintf(stderr, "simclr: augment: --out FILE is required\n");
        return 2;
    }
    if (dataset_open(&data, options.data, !options.test, options.seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --data: %s\n", one_line(&err));
        return 2;
    }
    status = aug_preview_write(options.out, &height, &width, &data, options.n, options.views,
                               &training.augment, options.seed, &err);
    if (status == SIMCLR_OK)
        printf("wrote %s: %lu images x (original + %lu views), %lux%lu pixels, preset %s\n",
               options.out, (unsigned long)(options.n < data.count ? options.n : data.count),
               (unsigned long)options.views, (unsigned long)width, (unsigned long)height,
               training.preset);
    dataset_close(&data);
    return status == SIMCLR_OK ? 0 : failed(&err);
}

/* ---- simclr predict ------------------------------------------------------------------------- */

static const char predict_usage[] =
    "usage: simclr predict --checkpoint CKPT [--data SRC] [--split test|train] [--out FILE]\n\n"
    "Classifies the images of a split with a fine-tuned network (simclr finetune), each through\n"
    "its evaluation view: CSV with a header, one row per image: index,path,label,predicted,\n"
    "predicted_class,p_0,...,p_(K-1) (the dataset index, the image's file for image folders,\n"
    "its true label, the top class's number and name, the softmax probabilities of the K\n"
    "classes, numbered as in the classes' order of simclr eval).\n\n";

static int command_predict(int argc, char **argv)
{
    embed_options options;
    settings_group group;
    simclr_error err;
    size_t length = 0;
    char *csv = NULL;
    int status;
    memset(&options, 0, sizeof options);
    options.batch = 64, options.split = 2;
    group = GROUP(embed_table, &options);
    if ((status = command_flags(argc, argv, &group, 1, "predict", predict_usage)) >= 0)
        return status;
    if (options.checkpoint[0] == '\0' || strcmp(options.checkpoint, options.out) == 0 ||
        options.split == 0) {
        fprintf(stderr, "simclr: predict: --checkpoint CKPT is required (and is not --out); "
                        "--split is train or test\n");
        return 2;
    }
    parallel_set_thread_count((int)options.threads);
    status = predictions_of_checkpoint(&csv, &length, options.checkpoint, options.data,
                                       options.test_data, options.split == 1, options.limit,
                                       options.batch, &err);
    if (status == SIMCLR_OK)
        status = options.out[0] == '\0'
                     ? (fwrite(csv, 1, length, stdout) == length
                            ? SIMCLR_OK
                            : simclr_fail(&err, "stdout: write failed"))
                     : file_write_atomically(options.out, (const uint8_t *)csv, length, &err);
    simclr_free(csv);
    if (status == SIMCLR_OK && options.out[0] != '\0')
        fprintf(stderr, "simclr: wrote %s\n", options.out);
    return status == SIMCLR_OK ? 0 : failed(&err);
}

/* ---- simclr bench --------------------------------------------------------------------------- */

/* What bench_run runs. */
typedef struct bench_job {
    const bench_kind *kind;
    const void *settings;
    char line[1024];
} bench_job;

/* Runs a benchmark and prints its line (job_run: under mpirun, on the job's ranks; rank 0
 * prints). */
static int bench_run(int argc, char **argv, void *context)
{
    bench_job *job = context;
    golden_simclr model = golden_model;
    simclr_error err;
    (void)argc, (void)argv;
    model.ranks = job_ranks;
    if (job->kind->run(job->settings, &model, job->line, sizeof job->line, &err) != SIMCLR_OK)
        return failed(&err) + 1; /* mostly settings that do not fit together */
    if (job_rank() == 0)
        printf("%s\n", job->line);
    return 0;
}

static int command_bench(int argc, char **argv)
{
    union { /* a benchmark's settings struct, suitably aligned */
        double number;
        uint64_t whole;
        void *pointer;
        char bytes[8192];
    } settings;
    char usage[2048], command[32];
    bench_job job;
    settings_group group;
    size_t k;
    int status;
    for (k = 0; k < bench_kind_count; k++) {
        const bench_kind *kind = &bench_kinds[k];
        if (argc < 1 || strcmp(argv[0], kind->name) != 0)
            continue;
        if (kind->settings_size > sizeof settings)
            return 1;
        kind->defaults(&settings);
        group = settings_group_of(kind->settings, kind->setting_count, &settings);
        snprintf(usage, sizeof usage, "usage: simclr bench %s [options]\n\n%s\n\n", kind->name,
                 kind->description);
        snprintf(command, sizeof command, "bench %s", kind->name);
        if ((status = command_flags(argc - 1, argv + 1, &group, 1, command, usage)) >= 0)
            return status;
        job.kind = kind, job.settings = &settings;
        return job_run(bench_run, 0, NULL, &job, 0);
    }
    status = argc >= 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0);
    if (argc >= 1 && !status)
        fprintf(stderr, "simclr: bench: unknown benchmark '%s'\n", argv[0]);
    fprintf(status ? stdout : stderr, "usage: simclr bench WHAT [options]\n\nBenchmarks, one "
                                      "result line each on stdout. WHAT is one of:\n");
    for (k = 0; k < bench_kind_count; k++)
        fprintf(status ? stdout : stderr, "  %-8s %s\n", bench_kinds[k].name, bench_kinds[k].summary);
    return status ? 0 : 2;
}

/* ---- main ----------------------------------------------------------------------------------- */

static int command_export(int argc, char **argv) { return command_embed(argc, argv, 1); }
static int command_features(int argc, char **argv) { return command_embed(argc, argv, 0); }

static const struct command {
    const char *name, *summary;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"train", "train a SimCLR encoder", command_train},
    {"eval", "linear probe and kNN of a checkpoint's encoder or of raw pixels", command_eval},
    {"finetune", "fine-tune the encoder and a classifier on a few labels (semi-supervised)",
     command_finetune},
    {"predict", "classify images with a fine-tuned network (CSV)", command_predict},
    {"embed", "write a checkpoint's features of a dataset to safetensors", command_features},
    {"export", "write a checkpoint's encoder alone, for embedding images elsewhere",
     command_export},
    {"augment", "preview SimCLR's augmentations as an image", command_augment},
    {"golden", "write reference outputs of every op for verifying other implementations",
     command_golden},
    {"bench", "benchmarks", command_bench}};

int main(int argc, char **argv)
{
    const char *command = argc > 1 ? argv[1] : "";
    const int help = !strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help");
    FILE *out = help ? stdout : stderr;
    size_t i;
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(command, commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("simclr-c %s openmp=%s threads=%d gemm_tile=%dx%d\n", SIMCLR_VERSION,
               parallel_openmp() ? "on" : "off", parallel_thread_count(), GEMM_MR, GEMM_NR);
        return 0;
    }
    if (argc > 1 && !help)
        fprintf(stderr, "simclr: unknown command '%s'\n", command);
    fprintf(out, "usage: simclr COMMAND [options]\n\nsimclr-c " SIMCLR_VERSION ": SimCLR (Chen "
                 "et al. 2020) in portable C99.\n\nCommands (each takes --help):\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "version", "print the version and build configuration");
    return help ? 0 : 2;
}

#endif /* SIMCLR_LIBRARY_ONLY */
