/*
 * tests/test_pretrain.c — a pretraining run's parts opened together (eval/pretrain.h), the
 * ranks' agreement told as a message (ranks_agree_reason, nn/ranks.h) and the log's mean
 * accuracy (data/checkpoint.h).
 *
 * The session on the built-in shapes (six classes): the first `limit` images, ⌊limit/N⌋ steps
 * per epoch, the online classifier's classes as --online-classifier says, a batch larger than
 * the images refused by name; a checkpoint written after a step and opened again with `resume`
 * restores the step and the same model (the same fingerprint, the same values to agree on).
 * Temporary files under /tmp/simclr_pretrain_*.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "simclr.h"
#include "test_helpers.h"

/* A tiny run on 40 built-in images: 5 steps of 8 per epoch, widths 4-8-16-32. */
static simclr_training tiny_training(void)
{
    simclr_training t = simclr_training_default();
    simclr_error err;
    cr_assert_eq(aug_config_preset(&t.augment, "cifar", &err), SIMCLR_OK, "%s", err.message);
    strcpy(t.data, "builtin:shapes");
    t.limit = 40;
    t.epochs = 2;
    t.model.batch = 8;
    t.model.seed = 5;
    t.model.channels = 3;
    t.model.height = t.model.width = t.augment.size;
    t.model.encoder.width = 0.0625;
    t.model.head.hidden_dim = 16;
    t.model.head.out_dim = 8;
    return t;
}

Test(pretrain, a_session_counts_the_images_steps_and_classes, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training t = tiny_training();
    pretrain_session s;
    simclr_error err;
    double values[PRETRAIN_AGREED];
    cr_assert_eq(pretrain_session_open(&s, &t, NULL, PRETRAIN_ONLINE_AUTO, NULL, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect_eq(s.images, 40);
    cr_expect_eq(s.steps_per_epoch, 5);
    cr_expect_eq(t.model.online_classes, 6); /* auto: the shapes' six classes */
    cr_expect_eq(s.model.config.online_classes, 6);
    cr_expect_eq(s.log.capacity, 10);
    cr_expect_not_null(s.log.accuracy);
    cr_expect_eq(s.model.step, 0);
    pretrain_session_agreed(&s, values);
    cr_expect_eq(values[0], 40.0);
    cr_expect_eq(values[1], 6.0);
    cr_expect_eq(values[2], 3.0);
    cr_expect_eq(values[5], (double)dataset_fingerprint(&s.data));
    cr_expect_eq(values[6], (double)pretrain_model_fingerprint(&s.model));
    cr_expect_eq(values[7], 0.0);
    cr_expect_str_eq(pretrain_agreed_names[6], "model (a fingerprint)");
    pretrain_session_close(&s);

    t = tiny_training();
    cr_assert_eq(pretrain_session_open(&s, &t, "", PRETRAIN_ONLINE_OFF, NULL, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_expect_eq(t.model.online_classes, 0);
    cr_expect_null(s.log.accuracy);
    pretrain_session_close(&s);
}

Test(pretrain, a_batch_larger_than_the_images_is_refused)
{
    simclr_training t = tiny_training();
    pretrain_session s;
    simclr_error err;
    t.limit = 7; /* < the batch of 8 */
    cr_assert_eq(pretrain_session_open(&s, &t, NULL, PRETRAIN_ONLINE_AUTO, NULL, &err),
                 SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "--batch: 8 is more than the 7 training images");
}

Test(pretrain, a_resumed_session_restores_the_step_and_the_model, .timeout = HANG_GUARD_SECONDS)
{
    const char *path = "/tmp/simclr_pretrain_resume.safetensors";
    simclr_training t = tiny_training(), read_back;
    pretrain_session s, r;
    simclr_error err;
    double before[PRETRAIN_AGREED], after[PRETRAIN_AGREED];
    size_t epoch = 99, i;
    cr_assert_eq(pretrain_session_open(&s, &t, NULL, PRETRAIN_ONLINE_AUTO, NULL, &err), SIMCLR_OK,
                 "%s", err.message);
    /* one whole epoch, then the checkpoint as simclr train writes it at the epoch's end */
    t.epochs = 1;
    cr_assert_eq(simclr_train(&s.model, &t, &s.data, &s.log, NULL, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(s.model.step, 5);
    t.epochs = 2;
    cr_assert_eq(simclr_checkpoint_write(path, &s.model, &t, 1, &s.log, &err), SIMCLR_OK, "%s",
                 err.message);
    pretrain_session_agreed(&s, before);

    cr_assert_eq(pretrain_resume_settings(path, &read_back, &epoch, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect_eq(epoch, 1);
    cr_expect_eq(read_back.model.online_classes, 6);
    cr_expect_eq(read_back.epochs, 2);
    cr_assert_eq(pretrain_session_open(&r, &read_back, path, PRETRAIN_ONLINE_OFF, NULL, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_expect_eq(read_back.model.online_classes, 6, "a resumed run keeps its own classifier");
    cr_expect_eq(r.model.step, 5);
    cr_expect_eq(r.log.steps, 5);
    pretrain_session_agreed(&r, after);
    for (i = 0; i < PRETRAIN_AGREED; i++)
        cr_expect_eq(after[i], before[i], "%s", pretrain_agreed_names[i]);
    pretrain_session_close(&r);
    pretrain_session_close(&s);
    remove(path);
    cr_expect_eq(pretrain_resume_settings("/tmp/simclr_pretrain_missing.safetensors", &read_back,
                                          &epoch, &err),
                 SIMCLR_FAILED);
}

/* ---- the ranks' agreement, told ------------------------------------------------------------- */

/* Rank `rank` of two; the other rank's sums are scripted: call k adds other[k]. */
typedef struct two_ranks {
    rank_group group;
    const double *other[2];
    size_t calls;
} two_ranks;

static void other_rank_adds(const rank_group *group, double *values, size_t count)
{
    two_ranks *t = group->context;
    size_t i;
    cr_assert(t->calls < 2);
    for (i = 0; i < count; i++)
        values[i] += t->other[t->calls][i];
    t->calls++;
}

static void two_ranks_init(two_ranks *t, int rank, const double *first, const double *verdict)
{
    memset(t, 0, sizeof *t);
    t->group.rank = rank, t->group.size = 2;
    t->group.sum_doubles = other_rank_adds;
    t->group.context = t;
    t->other[0] = first, t->other[1] = verdict;
}

Test(pretrain, the_agreement_says_which_value_differs_or_how_many_ranks_failed)
{
    static const char *const names[2] = {"images", "model"};
    const double mine[2] = {5.0, 7.0};
    const double same[3] = {0.0, 5.0, 7.0}, other_model[3] = {0.0, 5.0, 8.0};
    const double failed[3] = {1.0, 0.0, 0.0}, agrees[1] = {0.0}, disagrees[1] = {1.0};
    two_ranks t;
    simclr_error err;

    two_ranks_init(&t, 1, same, agrees);
    cr_expect_eq(ranks_agree_reason(&t.group, 1, mine, names, 2, &err), SIMCLR_OK);

    two_ranks_init(&t, 1, other_model, disagrees);
    cr_expect_eq(ranks_agree_reason(&t.group, 1, mine, names, 2, &err), SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "rank 1: its model differs from the other ranks' (the same "
                                  "data, checkpoint and program on every machine?)");

    two_ranks_init(&t, 0, failed, agrees); /* rank 1 failed: rank 0 counts it */
    cr_expect_eq(ranks_agree_reason(&t.group, 1, mine, names, 2, &err), SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "stopping: 1 of the 2 ranks failed (above)");

    two_ranks_init(&t, 1, same, agrees); /* this rank failed: it tells its own failure */
    cr_expect_eq(ranks_agree_reason(&t.group, 0, NULL, names, 2, &err), SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "");

    cr_expect_eq(ranks_agree_reason(NULL, 1, mine, names, 2, &err), SIMCLR_OK, "one process");
    cr_expect_eq(ranks_agree_reason(NULL, 0, mine, names, 2, &err), SIMCLR_FAILED);
    cr_expect_str_eq(err.message, "");
}

Test(pretrain, the_logs_mean_accuracy_is_over_the_steps_given)
{
    training_log log;
    simclr_error err;
    cr_assert_eq(training_log_create(&log, 4, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(training_log_keep_accuracy(&log, "top1", &err), SIMCLR_OK, "%s", err.message);
    log.accuracy[0] = 0.25f, log.accuracy[1] = 0.5f, log.accuracy[2] = 1.0f, log.accuracy[3] = 0.0f;
    cr_expect_eq(training_log_mean_accuracy(&log, 0, 4), 0.4375);
    cr_expect_eq(training_log_mean_accuracy(&log, 1, 3), 0.75);
    cr_expect_eq(training_log_mean_accuracy(&log, 2, 3), 1.0);
    training_log_destroy(&log);
}
