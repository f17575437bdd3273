/*
 * eval/golden.h — reference outputs for verifying other implementations: for every op,
 * inputs drawn from a fixed stream and the outputs and gradients this implementation computes,
 * one self-describing safetensors file per case, so that PyTorch, JAX or anything else can
 * recompute each case and compare (tests/crosscheck_torch.py does, with PyTorch).
 *
 * Each file's __metadata__ has "op" and every scalar parameter as a decimal string; its tensors
 * are named after PyTorch's arguments: inputs x (img for images, z0 and z1 for the loss),
 * weight, bias, running_mean, running_var; outputs y (out, loss, h), running_mean_out,
 * running_var_out; the upstream gradient dy and the gradients dx, dweight, dbias (dz0, dz1);
 * a network's tensors under torchvision's and LightlySSL's names (train_step: "before." and
 * "after." one step, and view0, view1). DIR/README.txt states each op's conventions (batch
 * norm's running variance, NT-Xent's normalisation, the colour and blur formulas, the
 * optimiser's momentum and weight decay). Gradients are of the scalar
 * L = Σ y·dy (so dx = ∂L/∂x with dy the upstream gradient), except ntxent, ntxent_distributed
 * and train_step, whose gradients are of the loss itself. Inputs come from
 * rng_stream(2020, "data", case, tensor, 0): the files are the same bits for any thread count
 * and with OpenMP off (the fast profile and PORTABLE=1 differ in the last bits, as fused
 * multiply-adds round once).
 *
 * The cases (DIR/README.txt lists them with their parameters):
 *   conv2d        7 shapes: odd sizes, stride 1 and 2, padding 0..3, kernels 1, 3, 5, 7, batch 1
 *   batchnorm2d   3 shapes, batchnorm1d 2 shapes (training mode, running statistics updated;
 *                 batch 3, not 2, for 1-D: with two samples dx is exactly 0)
 *   linear        3 shapes;  relu 2;  maxpool2d 3 (the ImageNet stem's 3×3/2 pad 1 among them);
 *   avgpool       3 (global average pooling, torchvision's adaptive_avg_pool2d(1) + flatten)
 *   ntxent        4 (N, d, τ) including N = 1
 *   brightness, contrast, saturation, hue   4-5 factors each, clamping edges included, RGB and
 *                 (brightness, contrast) gray images
 *   grayscale, hflip                        RGB
 *   resized_crop  4 windows (down- and up-scaling, antialiased)
 *   gaussian_blur 4 (kernel, σ), a 2×2 image among them (reflection beyond the edge)
 *   resnet        ResNet-18 with the CIFAR stem (32×32) and with the ImageNet stem (64×64),
 *                 evaluation mode, random batch-norm statistics
 *   train_step    one SimCLR step (SGD, lr 0.1) on ResNet-18 at width 1/16 (CIFAR stem) + the
 *                 2-layer head on two augmented 8×8 views (cifar preset) of the first built-in
 *                 shapes: N = 4 with the 2N views as one batch, N = 6 as two batches of N
 *   rng, init, view                        the random streams, initial weights and seeded views
 *                                          (golden_streams.h)
 *   train_steps, end_to_end                three steps of SGD and of LARS; one step from images
 *                                          and a seed (golden_train.h)
 *   ntxent_distributed    2 (K = 2 and 4 ranks), batchnorm_distributed 3 (K = 2, 4; 2-D and
 *                         1-D): data-parallel training simulated in one process
 *                         (golden_distributed.h)
 * Every case that trains a network keeps its ReLU inputs GOLDEN_MARGIN of their layer's scale
 * away from 0 (golden_margin.h); the resnet cases record their margin without requiring it.
 */
#ifndef SIMCLR_EVAL_GOLDEN_H
#define SIMCLR_EVAL_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"
#include "golden_case.h"

/* The cases that train a SimCLR model need the model of simclr.h, which sits above this module,
 * so the caller passes the function that writes them (golden_train_cases of golden_train.h),
 * called once per kind at its place in the order. */
typedef enum golden_train_kind {
    GOLDEN_TRAIN_STEP_JOINT,    /* train_step, the 2N views as one batch */
    GOLDEN_TRAIN_STEP_SEPARATE, /* train_step, two batches of N */
    GOLDEN_TRAIN_STEPS,         /* the four train_steps cases */
    GOLDEN_END_TO_END           /* end_to_end */
} golden_train_kind;
typedef int (*golden_train_writer)(golden_case *g, golden_train_kind kind, void *context);

/* Writes every case into the existing directory `dir`, and dir/README.txt. ops, when not NULL,
 * is a comma-separated list of the ops to write (conv2d, batchnorm2d, batchnorm1d, linear,
 * relu, maxpool2d, avgpool, ntxent, brightness, contrast, saturation, hue, grayscale, hflip,
 * resized_crop, gaussian_blur, resnet, train_step, ntxent_distributed, batchnorm_distributed,
 * rng, init, view, train_steps, end_to_end);
 * the cases written are the same bits as in the full set. train NULL leaves the cases that
 * train a model out. progress, when not NULL, is called with each file written. */
int golden_write_all(const char *dir, const char *ops, golden_train_writer train,
                     void *context, void (*progress)(const char *path), simclr_error *err);

/* The same files, the same bytes, handed to sink(file_name, bytes, size, sink_context, err)
 * instead of written (golden_case.h): for a program without a file system, which prints a
 * digest of each (tests/cortex_m/harness.c). */
int golden_emit_all(const char *ops, golden_train_writer train, void *context,
                    golden_sink sink, void *sink_context, simclr_error *err);

#endif
