/*
 * tests/test_finetune.c — the semi-supervised protocol (eval/finetune.h) and the online
 * classifier of simclr train (simclr.h):
 *   - the classifier's loss L = (1/B) Σ_i −log softmax(h_i·Wᵀ + b)[y_i] and its gradients with
 *     respect to W, b and h (what flows into the encoder) against the same formula in double,
 *     by central differences (tests/gradient_check.h); the encoder's own backward from ∂L/∂h is
 *     checked by tests/test_resnet.c
 *   - SGD with Nesterov momentum against torch.optim.SGD(nesterov=True)'s update, in double
 *   - the labelled subset: class-balanced, reproducible, disjoint from the test split, and the
 *     errors for an empty class and unlabelled data
 *   - fine-tuning resumed from a checkpoint gives the same bits as an uninterrupted run, and
 *     starts from the pretrained backbone
 *   - the online classifier changes no bit of pretraining
 * Networks are tiny: ResNet-18 at width 0.0625 (CIFAR stem) on 16×16 views of builtin:shapes.
 * Temporary files: /tmp/simclr_finetune_*.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simclr.h"
#include "gradient_check.h"
#include "reference_layers.h"
#include "test_helpers.h"

/* ---- the classifier's loss and gradients -------------------------------------------------- */

typedef struct classifier_context {
    double *W0, *gamma, *beta;   /* the head's layer (H, d) and its BN1d, with H > 0 */
    double *W, *b, *h;           /* fc (K, H or d), (K); h (B, d) */
    const int *labels;
    size_t B, d, H, K;
} classifier_context;

/* L = (1/B) Σ_i −log softmax(s_i)[y_i], s = fc(h) or fc(ReLU(BN1d(h·W0ᵀ))), in double. */
static double classifier_loss(void *context)
{
    const classifier_context *t = context;
    const size_t width = t->H > 0 ? t->H : t->d;
    double *u = malloc(t->B * width * sizeof(double)), *v = malloc(t->B * width * sizeof(double));
    double total = 0.0;
    size_t i, k, j;
    if (t->H > 0) {
        for (i = 0; i < t->B; i++)
            for (k = 0; k < t->H; k++) {
                v[i * t->H + k] = 0.0;
                for (j = 0; j < t->d; j++)
                    v[i * t->H + k] += t->h[i * t->d + j] * t->W0[k * t->d + j];
            }
        reference_batchnorm_train(u, v, t->gamma, t->beta, t->B, t->H, 1, 1e-5);
        reference_relu(u, u, t->B * t->H);
    } else {
        memcpy(u, t->h, t->B * t->d * sizeof(double));
    }
    for (i = 0; i < t->B; i++) {
        double s[16], most = -INFINITY, sum = 0.0;
        for (k = 0; k < t->K; k++) {
            s[k] = t->b[k];
            for (j = 0; j < width; j++)
                s[k] += u[i * width + j] * t->W[k * width + j];
            most = fmax(most, s[k]);
        }
        for (k = 0; k < t->K; k++)
            sum += exp(s[k] - most);
        total += -(s[t->labels[i]] - most - log(sum));
    }
    free(u), free(v);
    return total / (double)t->B;
}

/* The classifier as fine-tuning runs it (nn/classifier.h in training mode, then
 * softmax_cross_entropy_forward/backward, then classifier_backward), fc on h (hidden 0) and fc
 * after the head's layer (hidden 12), against the formula in double: the loss (relative 1e-5)
 * and ∂L/∂ of every parameter and of h (what flows into the encoder, whose own backward
 * tests/test_resnet.c checks) by central differences, normwise relative 1e-4. */
static void check_classifier(size_t hidden)
{
    const size_t B = 6, d = 10, K = 5;
    const int labels[6] = {0, 3, 4, 1, 3, 2};
    classifier c;
    classifier_activations acts;
    param_store store;
    simclr_error err;
    classifier_context t;
    float *h = malloc(B * d * sizeof(float)), *grad_h = malloc(B * d * sizeof(float));
    float probabilities[30];
    double row_loss[6], loss;
    char what[64];
    param_store_init(&store);
    cr_assert_eq(classifier_plan(&c, d, hidden, K, &store, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(param_store_allocate(&store, &err), SIMCLR_OK);
    param_store_init_torchvision(&store, 11);
    if (hidden > 0) { /* BN's weight and bias away from their initial 1 and 0 */
        test_fill_uniform(store.params + c.hidden_bn.weight, hidden, 0.5f, 1.5f, 13);
        test_fill_uniform(store.params + c.hidden_bn.bias, hidden, -0.5f, 0.5f, 14);
    }
    cr_assert_eq(classifier_activations_create(&acts, &c, B, &err), SIMCLR_OK);
    test_fill_uniform(h, B * d, -1, 1, 12);
    memset(store.grads, 0, store.param_floats * sizeof(float));
    classifier_forward(&acts, h, B, &c, &store, 1);
    loss = softmax_cross_entropy_forward(probabilities, row_loss, acts.scores, labels, B, K);
    softmax_cross_entropy_backward(acts.grad_scores, probabilities, labels, B, K);
    classifier_backward(grad_h, &acts, &c, &store);
    cr_expect_not_null(param_store_find(&store, "fc.weight"), "torchvision's name fc.weight");
    cr_expect_not_null(param_store_find(&store, "fc.bias"), "torchvision's name fc.bias");

    memset(&t, 0, sizeof t);
    t.W = reference_from_float(store.params + c.weight, K * (hidden > 0 ? hidden : d));
    t.b = reference_from_float(store.params + c.bias, K);
    t.h = reference_from_float(h, B * d);
    if (hidden > 0) {
        cr_expect_not_null(param_store_find(&store, "projection_head.layers.0.weight"));
        cr_expect_not_null(param_store_find(&store, "projection_head.layers.1.running_var"));
        t.W0 = reference_from_float(store.params + c.hidden_weight, hidden * d);
        t.gamma = reference_from_float(store.params + c.hidden_bn.weight, hidden);
        t.beta = reference_from_float(store.params + c.hidden_bn.bias, hidden);
    }
    t.labels = labels, t.B = B, t.d = d, t.H = hidden, t.K = K;
    sprintf(what, "hidden %zu", hidden);
    cr_expect(fabs(loss - classifier_loss(&t)) <= 1e-5 * fmax(1.0, fabs(classifier_loss(&t))),
              "%s: loss %.9g vs %.9g", what, loss, classifier_loss(&t));
    check_gradient("fc.weight", t.W, K * (hidden > 0 ? hidden : d), store.grads + c.weight,
                   classifier_loss, &t, 1e-4, 0);
    check_gradient("fc.bias", t.b, K, store.grads + c.bias, classifier_loss, &t, 1e-4, 0);
    check_gradient("h", t.h, B * d, grad_h, classifier_loss, &t, 1e-4, 0);
    if (hidden > 0) {
        check_gradient("layers.0.weight", t.W0, hidden * d, store.grads + c.hidden_weight,
                       classifier_loss, &t, 1e-4, 0);
        check_gradient("layers.1.weight", t.gamma, hidden, store.grads + c.hidden_bn.weight,
                       classifier_loss, &t, 1e-4, 0);
        check_gradient("layers.1.bias", t.beta, hidden, store.grads + c.hidden_bn.bias,
                       classifier_loss, &t, 1e-4, 0);
    }
    free(t.W), free(t.b), free(t.h), free(t.W0), free(t.gamma), free(t.beta), free(h), free(grad_h);
    classifier_activations_destroy(&acts);
    param_store_destroy(&store);
}

Test(finetune, classifier_loss_and_gradients_match_double_central_differences)
{
    check_classifier(0);
}

Test(finetune, head_layer_classifier_gradients_match_double_central_differences)
{
    check_classifier(12);
}

/* torch.optim.SGD(lr, momentum=m, weight_decay=wd, nesterov=True), three steps in double:
 *   d = g + wd·w;  buf = m·buf + d (buf = d at the first step);  w −= lr·(d + m·buf). */
Test(finetune, nesterov_sgd_matches_torch_update)
{
    const size_t n = 7;
    const size_t shape[1] = {7};
    optimizer_config config = {OPTIMIZER_SGD, 0.9f, 0.01f, 0.001f, 1};
    param_store store;
    optimizer opt;
    simclr_error err;
    double w[7], buf[7] = {0};
    size_t offset, i, s;
    param_store_init(&store);
    cr_assert_eq(param_store_add(&store, "", "w", PARAM_LINEAR_WEIGHT, 1, shape, 7, &offset, &err),
                 SIMCLR_OK);
    cr_assert_eq(param_store_allocate(&store, &err), SIMCLR_OK);
    test_fill_uniform(store.params, n, -1, 1, 21);
    cr_assert_eq(optimizer_create(&opt, &config, &store, &err), SIMCLR_OK);
    for (i = 0; i < n; i++)
        w[i] = store.params[i];
    for (s = 0; s < 3; s++) {
        test_fill_uniform(store.grads, n, -1, 1, 22 + s);
        optimizer_step(&opt, &store, 0.1f);
        for (i = 0; i < n; i++) {
            const double d = (double)store.grads[i] + 0.01 * w[i];
            buf[i] = 0.9 * buf[i] + d;
            w[i] -= 0.1 * (d + 0.9 * buf[i]);
        }
        for (i = 0; i < n; i++)
            cr_expect(fabs(store.params[i] - w[i]) <= 1e-6 * fmax(1.0, fabs(w[i])),
                      "step %zu, w[%zu]: %.9g vs %.9g", s + 1, i, (double)store.params[i], w[i]);
    }
    optimizer_destroy(&opt);
    param_store_destroy(&store);
}

/* ---- the labelled subset -------------------------------------------------------------------- */

static void open_split(dataset *data, int train)
{
    simclr_error err;
    cr_assert_eq(dataset_open(data, "builtin:shapes", train, 3, &err), SIMCLR_OK, "%s",
                 err.message);
}

/* round(p·n_c) of every class c (12000 images, 2000 per class: 1% keeps 20 of each) or the
 * count asked; the same images for the same seed, others for another; in dataset order. */
Test(finetune, label_subset_is_class_balanced_and_reproducible)
{
    static const char *const specs[3] = {"1%", "10%", "7"};
    static const size_t per_class[3] = {20, 200, 7};
    dataset data;
    simclr_error err;
    size_t *a, *b, *c, na, nb, nc, i, k, s;
    open_split(&data, 1);
    for (s = 0; s < 3; s++) {
        size_t counts[6] = {0};
        cr_assert_eq(finetune_label_subset(&a, &na, &data, specs[s], 5, &err), SIMCLR_OK, "%s",
                     err.message);
        cr_assert_eq(finetune_label_subset(&b, &nb, &data, specs[s], 5, &err), SIMCLR_OK);
        cr_assert_eq(finetune_label_subset(&c, &nc, &data, specs[s], 6, &err), SIMCLR_OK);
        cr_expect_eq(na, 6 * per_class[s], "%s: %zu images", specs[s], na);
        cr_expect(na == nb && memcmp(a, b, na * sizeof *a) == 0, "%s: the same seed, the same "
                  "images", specs[s]);
        cr_expect(na == nc && memcmp(a, c, na * sizeof *a) != 0, "%s: another seed, others",
                  specs[s]);
        for (i = 0; i < na; i++) {
            counts[dataset_label(&data, a[i])]++;
            cr_expect(i == 0 || a[i] > a[i - 1], "%s: in dataset order, each once", specs[s]);
            cr_expect(a[i] < data.count);
        }
        for (k = 0; k < 6; k++)
            cr_expect_eq(counts[k], per_class[s], "%s: class %zu keeps %zu", specs[s], k,
                         counts[k]);
        simclr_free(a), simclr_free(b), simclr_free(c);
    }
    dataset_close(&data);
}

/* The labelled images are training images, none of them an image of the test split. */
Test(finetune, label_subset_is_disjoint_from_the_test_split)
{
    dataset train, test;
    simclr_error err;
    size_t *subset, n, i, j;
    const size_t floats = 3 * 32 * 32;
    float *image = malloc(floats * sizeof(float)), *tests;
    open_split(&train, 1);
    open_split(&test, 0);
    cr_assert(test.held_out, "builtin:shapes has a held-out split");
    tests = malloc(test.count * floats * sizeof(float));
    for (j = 0; j < test.count; j++)
        cr_assert_eq(dataset_image(&test, j, tests + j * floats, &err), SIMCLR_OK);
    cr_assert_eq(finetune_label_subset(&subset, &n, &train, "1%", 5, &err), SIMCLR_OK);
    for (i = 0; i < n; i++) {
        cr_assert_eq(dataset_image(&train, subset[i], image, &err), SIMCLR_OK);
        for (j = 0; j < test.count; j++)
            cr_expect(memcmp(image, tests + j * floats, floats * sizeof(float)) != 0,
                      "labelled image %zu is test image %zu", subset[i], j);
    }
    simclr_free(subset), free(image), free(tests);
    dataset_close(&train), dataset_close(&test);
}

Test(finetune, label_subset_errors_name_the_problem)
{
    dataset data;
    simclr_error err;
    size_t *subset, n;
    open_split(&data, 1);
    cr_expect_eq(finetune_label_subset(&subset, &n, &data, "0.01%", 5, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "class 'disc'") != NULL, "an empty class named: %s",
              err.message);
    cr_expect_eq(finetune_label_subset(&subset, &n, &data, "2001", 5, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "fewer than") != NULL, "%s", err.message);
    cr_expect_eq(finetune_label_subset(&subset, &n, &data, "ten", 5, &err), SIMCLR_FAILED);
    cr_expect_eq(finetune_label_subset(&subset, &n, &data, "150%", 5, &err), SIMCLR_FAILED);
    dataset_close(&data);
}

/* An image folder without class folders has one class, "all": no labels to fine-tune on. */
Test(finetune, a_folder_without_classes_has_no_labels, .timeout = HANG_GUARD_SECONDS)
{
    static const char folder[] = "/tmp/simclr_finetune_unlabelled";
    float image[3 * 8 * 8];
    char path[128];
    dataset data;
    simclr_error err;
    size_t *subset, n, i;
    for (i = 0; i < sizeof image / sizeof image[0]; i++)
        image[i] = (float)(i % 7) / 7.0f;
    cr_assert_eq(run_files_make_folder(folder, &err), SIMCLR_OK, "%s", err.message);
    for (i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/image%lu.png", folder, (unsigned long)i);
        cr_assert_eq(image_write(path, image, 3, 8, 8, &err), SIMCLR_OK, "%s", err.message);
    }
    cr_assert_eq(dataset_open(&data, folder, 1, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_assert(data.classes == 1 && data.count == 4, "%d classes, %zu images", data.classes,
              data.count);
    cr_expect_eq(finetune_label_subset(&subset, &n, &data, "10%", 5, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "needs labels") != NULL, "%s", err.message);
    dataset_close(&data);
}

/* ---- fine-tuning runs ----------------------------------------------------------------------- */

#define PRETRAINED "/tmp/simclr_finetune_pretrained.safetensors"
#define CHECKPOINT "/tmp/simclr_finetune_checkpoint.safetensors"

/* A tiny "pretrained" SimCLR checkpoint (a model after its initialisation, seed 9). */
static void write_pretrained(void)
{
    simclr_training t = simclr_training_default();
    simclr_model model;
    simclr_error err;
    t.model.encoder.width = 0.0625;
    t.model.head.hidden_dim = 16, t.model.head.out_dim = 8;
    t.model.batch = 4, t.model.seed = 9, t.model.channels = 3;
    t.model.height = t.model.width = t.augment.size = 16;
    t.augment.min_scale = 0.3; /* fine-tuning crops as the pretraining run by default */
    cr_assert_eq(simclr_model_create(&model, &t.model, &err), SIMCLR_OK, "%s", err.message);
    t.model = model.config;
    cr_assert_eq(simclr_checkpoint_write(PRETRAINED, &model, &t, 0, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    simclr_model_destroy(&model);
}

typedef struct finetune_fixture {
    dataset train, test;
    size_t *subset, labelled;
    finetune_settings settings;
    safetensors_file source;
} finetune_fixture;

static void fixture_open(finetune_fixture *f)
{
    simclr_error err;
    write_pretrained();
    open_split(&f->train, 1);
    open_split(&f->test, 0);
    f->test.count = 64; /* a quick test accuracy */
    f->settings = finetune_settings_default();
    strcpy(f->settings.pretrained, PRETRAINED);
    strcpy(f->settings.data, "builtin:shapes");
    strcpy(f->settings.labels, "4"); /* 24 images, 3 steps of 8 */
    f->settings.batch = 8, f->settings.epochs = 3, f->settings.seed = 5;
    cr_assert_eq(finetune_label_subset(&f->subset, &f->labelled, &f->train, f->settings.labels,
                                       f->settings.seed, &err), SIMCLR_OK);
    cr_assert_eq(safetensors_read(&f->source, PRETRAINED, &err), SIMCLR_OK, "%s", err.message);
}

static void fixture_close(finetune_fixture *f)
{
    safetensors_free(&f->source);
    simclr_free(f->subset);
    dataset_close(&f->train), dataset_close(&f->test);
}

static int stop_after_first_epoch(const finetune_progress *p, finetune_model *model,
                                  const training_log *history, void *context)
{
    (void)model, (void)history, (void)context;
    return p->epoch_done && p->epoch == 0;
}

static void create(finetune_model *model, simclr_encoder *evaluator, training_log *log,
                   finetune_fixture *f, const safetensors_file *from, const char *prefix)
{
    simclr_error err;
    cr_assert_eq(finetune_model_create(model, &f->settings, from, "source", prefix, 6, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(finetune_evaluator(evaluator, model, 16, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(training_log_create(log, 9, &err), SIMCLR_OK);
    cr_assert_eq(training_log_keep_accuracy(log, "test_top1", &err), SIMCLR_OK);
}

static void destroy(finetune_model *model, simclr_encoder *evaluator, training_log *log)
{
    finetune_model_destroy(model);
    simclr_encoder_destroy(evaluator);
    training_log_destroy(log);
}

Test(finetune, starts_from_the_pretrained_backbone_or_from_scratch)
{
    finetune_fixture f;
    finetune_model pretrained, scratch;
    simclr_encoder evaluator;
    training_log log;
    const safetensors_tensor *stored;
    const param_entry *conv1;
    float *expected;
    simclr_error err;
    fixture_open(&f);
    create(&pretrained, &evaluator, &log, &f, &f.source, "backbone.");
    simclr_encoder_destroy(&evaluator), training_log_destroy(&log);
    f.settings.seed = 123; /* scratch: another seed, so its initialisation differs */
    create(&scratch, &evaluator, &log, &f, &f.source, NULL);
    conv1 = param_store_find(&pretrained.store, "conv1.weight");
    stored = safetensors_find(&f.source, "backbone.conv1.weight");
    cr_assert(conv1 != NULL && stored != NULL);
    expected = malloc(conv1->count * sizeof(float));
    cr_assert_eq(safetensors_copy_f32(&f.source, stored, expected, &err), SIMCLR_OK);
    cr_expect(memcmp(pretrained.store.params + conv1->offset, expected,
                     conv1->count * sizeof(float)) == 0,
              "conv1.weight is the pretrained backbone.conv1.weight");
    cr_expect(memcmp(scratch.store.params + conv1->offset, expected,
                     conv1->count * sizeof(float)) != 0,
              "--from-scratch keeps its own initialisation");
    free(expected);
    /* the crop's smallest scale: the pretraining run's unless given (recorded as the run's) */
    cr_expect_eq(pretrained.settings.min_scale, 0.3);
    cr_expect_eq(pretrained.augment.min_scale, 0.3);
    cr_expect_eq(scratch.augment.min_scale, 0.3, "--from-scratch crops as the pretraining run");
    { /* fc starts as nn.Linear, U(±1/√d), or at zero (zero_init_logits_layer) when asked */
        const char *names[2] = {"fc.weight", "fc.bias"};
        finetune_model zeroed;
        size_t n, i;
        f.settings.fc_init = FINETUNE_FC_ZERO;
        f.settings.min_scale = 0.5;
        create(&zeroed, &evaluator, &log, &f, &f.source, "backbone.");
        simclr_encoder_destroy(&evaluator), training_log_destroy(&log);
        cr_expect_eq(zeroed.augment.min_scale, 0.5, "--min-scale given: kept");
        f.settings.fc_init = FINETUNE_FC_TORCHVISION;
        f.settings.min_scale = 0.0;
        for (n = 0; n < 2; n++) {
            const param_entry *zero = param_store_find(&zeroed.store, names[n]);
            const param_entry *drawn = param_store_find(&pretrained.store, names[n]);
            const float bound = 1.0f / sqrtf((float)drawn->fan_in);
            size_t zeros = 0, inside = 0;
            cr_assert(zero != NULL && drawn != NULL && drawn->count == zero->count);
            for (i = 0; i < zero->count; i++) {
                zeros += zeroed.store.params[zero->offset + i] == 0.0f;
                inside += fabsf(pretrained.store.params[drawn->offset + i]) <= bound &&
                          pretrained.store.params[drawn->offset + i] != 0.0f;
            }
            cr_expect_eq(inside, drawn->count, "by default %s in (0, 1/sqrt(%lu)]", names[n],
                         (unsigned long)drawn->fan_in);
            cr_expect_eq(zeros, zero->count, "--fc-init zero: %s starts at zero", names[n]);
        }
        finetune_model_destroy(&zeroed);
    }
    cr_expect_null(param_store_find(&pretrained.store, "projection_head.layers.0.weight"),
                   "the projection head is dropped");
    { /* --from-head-layer: the head's first layer kept with its pretrained weights */
        finetune_model from_head;
        const param_entry *w0;
        float *stored_w0;
        f.settings.from_head = 1;
        create(&from_head, &evaluator, &log, &f, &f.source, "backbone.");
        simclr_encoder_destroy(&evaluator), training_log_destroy(&log);
        w0 = param_store_find(&from_head.store, "projection_head.layers.0.weight");
        stored = safetensors_find(&f.source, "projection_head.layers.0.weight");
        cr_assert(w0 != NULL && stored != NULL);
        stored_w0 = malloc(w0->count * sizeof(float));
        cr_assert_eq(safetensors_copy_f32(&f.source, stored, stored_w0, &err), SIMCLR_OK);
        cr_expect(memcmp(from_head.store.params + w0->offset, stored_w0,
                         w0->count * sizeof(float)) == 0, "the head's layer is pretrained");
        cr_expect_eq(param_store_find(&from_head.store, "fc.weight")->shape[1], 16,
                     "fc takes the head's 16 hidden units");
        free(stored_w0);
        finetune_model_destroy(&from_head);
    }
    destroy(&scratch, &evaluator, &log);
    finetune_model_destroy(&pretrained);
    fixture_close(&f);
}

/* 3 epochs in one go against 1 epoch, a checkpoint, a new model restored from it, 2 more. */
/* A fine-tuning checkpoint's metadata with the settings `s` and every key but `left_out`
 * (NULL: none), as a safetensors file without tensors, parsed into `file`. */
static void metadata_file_without(safetensors_file *file, uint8_t **bytes,
                                  const finetune_settings *s, const char *left_out)
{
    static safetensors_metadata metadata[64];
    simclr_error err;
    size_t count = 0, size, i;
    strcpy(metadata[count].key, "format");
    strcpy(metadata[count++].value, RUN_SETTINGS_FINETUNE_FORMAT);
    for (i = 0; i < finetune_setting_count; i++) {
        if (left_out != NULL && strcmp(finetune_table[i].key, left_out) == 0)
            continue;
        strcpy(metadata[count].key, finetune_table[i].key);
        setting_format(&finetune_table[i], s, metadata[count].value,
                       sizeof metadata[count].value); /* "" for the empty texts */
        count++;
    }
    strcpy(metadata[count].key, "classes");
    strcpy(metadata[count++].value, "10");
    strcpy(metadata[count].key, "epoch");
    strcpy(metadata[count++].value, "3");
    strcpy(metadata[count].key, "step");
    strcpy(metadata[count++].value, "30");
    cr_assert_eq(safetensors_encode(NULL, 0, metadata, count, "old.safetensors", bytes, &size,
                                    &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(safetensors_parse(file, *bytes, size, "old.safetensors", &err), SIMCLR_OK,
                 "%s", err.message);
}

/* Checkpoints written before --fc-init and --from-head-layer existed lack their keys: they
 * resume as what they were (fc as nn.Linear draws it, fc on h); any other missing key is an
 * error naming it. */
Test(finetune, an_older_checkpoint_reads_its_settings_as_they_were)
{
    static const char *const added_later[][2] = {{"fc_init", "torchvision"},
                                                 {"from_head_layer", "0"}};
    finetune_settings written = finetune_settings_default(), read;
    safetensors_file file;
    simclr_error err;
    uint8_t *bytes;
    size_t classes, epoch, step, i;
    strcpy(written.pretrained, "run/checkpoint.safetensors");
    written.fc_init = FINETUNE_FC_ZERO;
    written.from_head = 1;
    for (i = 0; i < 2; i++) {
        metadata_file_without(&file, &bytes, &written, added_later[i][0]);
        cr_assert_eq(finetune_checkpoint_settings(&file, "old.safetensors", &read, &classes,
                                                  &epoch, &step, &err), SIMCLR_OK, "%s",
                     err.message);
        cr_expect_eq(read.fc_init, i == 0 ? FINETUNE_FC_TORCHVISION : FINETUNE_FC_ZERO);
        cr_expect_eq(read.from_head, i == 1 ? 0 : 1);
        cr_expect_eq(classes, 10);
        cr_expect_eq(epoch, 3);
        cr_expect_eq(step, 30);
        safetensors_free(&file);
        simclr_free(bytes);
    }
    metadata_file_without(&file, &bytes, &written, "momentum");
    cr_expect_eq(finetune_checkpoint_settings(&file, "old.safetensors", &read, &classes, &epoch,
                                              &step, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "'momentum'") != NULL, "%s", err.message);
    safetensors_free(&file);
    simclr_free(bytes);
}

Test(finetune, resumes_bit_identically, .timeout = HANG_GUARD_SECONDS)
{
    finetune_fixture f;
    finetune_model whole, first, resumed;
    simclr_encoder e1, e2, e3;
    training_log l1, l2, l3;
    safetensors_file file;
    simclr_error err;
    fixture_open(&f);
    create(&whole, &e1, &l1, &f, &f.source, "backbone.");
    cr_assert_eq(finetune_run(&whole, &f.train, f.subset, f.labelled, &f.test, &e1, &l1, NULL,
                              NULL, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(whole.step, 9);
    cr_expect(!isnan(l1.accuracy[2]) && !isnan(l1.accuracy[8]) && isnan(l1.accuracy[1]),
              "the test top-1 at every epoch's last step");

    create(&first, &e2, &l2, &f, &f.source, "backbone.");
    cr_assert_eq(finetune_run(&first, &f.train, f.subset, f.labelled, &f.test, &e2, &l2,
                              stop_after_first_epoch, NULL, &err), SIMCLR_OK);
    cr_assert_eq(first.step, 3);
    cr_assert_eq(finetune_checkpoint_write(CHECKPOINT, &first, 1, f.labelled, &l2, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(safetensors_read(&file, CHECKPOINT, &err), SIMCLR_OK, "%s", err.message);
    create(&resumed, &e3, &l3, &f, &file, NULL);
    cr_assert_eq(finetune_checkpoint_restore(&resumed, &file, CHECKPOINT, &l3, &err), SIMCLR_OK,
                 "%s", err.message);
    cr_assert_eq(finetune_run(&resumed, &f.train, f.subset, f.labelled, &f.test, &e3, &l3, NULL,
                              NULL, &err), SIMCLR_OK, "%s", err.message);
    cr_expect_eq(resumed.step, 9);
    cr_expect(memcmp(whole.store.params, resumed.store.params,
                     whole.store.param_floats * sizeof(float)) == 0, "parameters");
    cr_expect(memcmp(whole.store.buffers, resumed.store.buffers,
                     whole.store.buffer_floats * sizeof(float)) == 0, "running statistics");
    cr_expect(memcmp(whole.opt.velocity, resumed.opt.velocity,
                     whole.store.param_floats * sizeof(float)) == 0, "momentum");
    cr_expect(memcmp(l1.loss, l3.loss, 9 * sizeof(float)) == 0, "losses");
    cr_expect(memcmp(l1.accuracy, l3.accuracy, 9 * sizeof(float)) == 0, "test accuracies");
    safetensors_free(&file);
    destroy(&whole, &e1, &l1), destroy(&first, &e2, &l2), destroy(&resumed, &e3, &l3);
    fixture_close(&f);
    remove(PRETRAINED), remove(CHECKPOINT);
}

/* ---- the online classifier of simclr train -------------------------------------------------- */

static simclr_training online_training(size_t classes)
{
    simclr_training t = simclr_training_default();
    t.model.encoder.width = 0.0625;
    t.model.head.hidden_dim = 16, t.model.head.out_dim = 8;
    t.model.batch = 8, t.model.seed = 7, t.model.channels = 3;
    t.model.height = t.model.width = t.augment.size = 16;
    t.model.online_classes = classes;
    t.limit = 32, t.epochs = 2, t.base_lr = 1.2, t.warmup_epochs = 0.5;
    return t;
}

/* Pretraining with and without the online classifier: every tensor of the model (parameters,
 * running statistics, momentum) and every loss the same bits; the classifier's own tensors
 * come last and its top-1 is logged at every step. */
Test(finetune, online_classifier_leaves_pretraining_bits_unchanged, .timeout = HANG_GUARD_SECONDS)
{
    simclr_training with = online_training(6), without = online_training(0);
    simclr_model a, b;
    training_log la, lb;
    dataset data;
    simclr_error err;
    size_t shared, s;
    open_split(&data, 1);
    cr_assert_eq(simclr_model_create(&a, &with.model, &err), SIMCLR_OK, "%s", err.message);
    cr_assert_eq(simclr_model_create(&b, &without.model, &err), SIMCLR_OK, "%s", err.message);
    with.model = a.config, without.model = b.config;
    cr_assert_eq(training_log_create(&la, 8, &err), SIMCLR_OK);
    cr_assert_eq(training_log_create(&lb, 8, &err), SIMCLR_OK);
    cr_assert_eq(training_log_keep_accuracy(&la, "online_top1", &err), SIMCLR_OK);
    cr_assert_eq(simclr_train(&a, &with, &data, &la, NULL, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_assert_eq(simclr_train(&b, &without, &data, &lb, NULL, NULL, &err), SIMCLR_OK, "%s",
                 err.message);
    shared = b.store.param_floats;
    cr_assert_eq(a.store.count, b.store.count + 2, "online_classifier.weight and .bias added");
    cr_expect_str_eq(a.store.entries[a.store.count - 2].name, "online_classifier.weight");
    cr_expect_eq(a.online.weight, shared, "the classifier's tensors come last");
    cr_expect(memcmp(a.store.params, b.store.params, shared * sizeof(float)) == 0, "parameters");
    cr_expect(memcmp(a.store.buffers, b.store.buffers, b.store.buffer_floats * sizeof(float)) ==
                  0, "running statistics");
    cr_expect(memcmp(a.opt.velocity, b.opt.velocity, shared * sizeof(float)) == 0, "momentum");
    cr_expect(memcmp(la.loss, lb.loss, 8 * sizeof(float)) == 0, "losses");
    for (s = 0; s < 8; s++)
        cr_expect(la.accuracy[s] >= 0.0f && la.accuracy[s] <= 1.0f, "step %zu: top-1 %g", s,
                  (double)la.accuracy[s]);
    training_log_destroy(&la), training_log_destroy(&lb);
    simclr_model_destroy(&a), simclr_model_destroy(&b);
    dataset_close(&data);
}
