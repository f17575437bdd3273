/*
 * tests/test_simclr.c — one SimCLR training step (simclr.h): it allocates nothing after the
 * model is made, it gives the same bits for 1 and 2 threads, and it learns (the loss of a fixed
 * batch goes down over a few steps).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "test_helpers.h"

static void make_model(simclr_model *model, double width, size_t batch, size_t side)
{
    simclr_config config = simclr_config_default();
    simclr_error err;
    config.encoder.width = width;
    config.batch = batch;
    config.height = config.width = side;
    config.seed = 42;
    cr_assert_eq(simclr_model_create(model, &config, &err), SIMCLR_OK, "%s", err.message);
    test_fill_uniform(model->views, 2 * batch * 3 * side * side, 0, 1, 900);
}

/* The counting allocator of nn/memory.h: no allocation inside a step after the first. */
Test(simclr, training_step_allocates_nothing)
{
    simclr_model model;
    unsigned long before;
    make_model(&model, 0.25, 4, 16);
    simclr_train_step(&model, 0.1f);
    before = simclr_allocation_count();
    simclr_train_step(&model, 0.1f);
    simclr_train_step(&model, 0.1f);
    cr_expect_eq(simclr_allocation_count(), before, "%lu allocations in two steps",
                 simclr_allocation_count() - before);
    simclr_model_destroy(&model);
}

/* A whole ResNet-18 (full width, CIFAR stem) step: forward, backward, update. */
Test(simclr, resnet18_step_bit_identical_for_one_and_two_threads)
{
    simclr_model one, two;
    float loss_one, loss_two;
    make_model(&one, 1.0, 2, 32);
    make_model(&two, 1.0, 2, 32);
    parallel_set_thread_count(1);
    loss_one = simclr_train_step(&one, 0.1f);
    parallel_set_thread_count(2);
    loss_two = simclr_train_step(&two, 0.1f);
    cr_expect(memcmp(&loss_one, &loss_two, sizeof(float)) == 0, "%.9g vs %.9g", loss_one,
              loss_two);
    cr_expect(memcmp(one.store.params, two.store.params, one.store.param_floats * sizeof(float)) ==
              0, "weights differ after one step");
    cr_expect(memcmp(one.store.grads, two.store.grads, one.store.param_floats * sizeof(float)) ==
              0, "gradients differ");
    cr_expect(memcmp(one.store.buffers, two.store.buffers,
                     one.store.buffer_floats * sizeof(float)) == 0, "running statistics differ");
    simclr_model_destroy(&one);
    simclr_model_destroy(&two);
}

/* The same batch three times: SGD on NT-Xent must lower its loss, which starts near
 * log(2N − 1) for a random network. */
Test(simclr, loss_goes_down_on_a_fixed_batch)
{
    simclr_model model;
    float first, last = 0;
    int step;
    make_model(&model, 0.25, 8, 16);
    first = simclr_train_step(&model, 0.5f);
    cr_expect(fabs(first - log(15.0)) < 0.5, "initial loss %.4f, log(2N-1) = %.4f", first,
              log(15.0));
    for (step = 0; step < 5; step++)
        last = simclr_train_step(&model, 0.5f);
    cr_expect_lt(last, first - 0.1f, "loss %.4f -> %.4f", first, last);
    simclr_model_destroy(&model);
}
