/*
 * eval/golden_margin.h — how far a network case's branches lie from their decision boundaries,
 * so that the reference outputs hold no knife edge.
 *
 * A ReLU's derivative jumps at 0: an input within rounding distance of 0 can fall on the other
 * side in another correct implementation (another summation order, Winograd or direct
 * convolution, fused multiply-adds), and one flipped gate changes the gradient of every layer
 * below it by ~1e-2. So every network case whose gradients are stored is chosen (the writer
 * re-draws it) so that every ReLU input x of every forward pass satisfies
 *     |x| / rms(layer) >= GOLDEN_MARGIN
 * where rms(layer) = sqrt(mean of x² over all the inputs of that ReLU in that pass) is the
 * layer's scale. The ReLU inputs are the batch-norm outputs (plus the identity before a block's
 * last ReLU) recomputed in double from the saved batch statistics after a training-mode forward
 * pass (or the running statistics in evaluation mode): the same values as the float ones up to
 * ~1e-7 of the layer's scale, far below the margin.
 *
 * Shape legend: B batch, C channels, H × W a feature map.
 */
#ifndef SIMCLR_EVAL_GOLDEN_MARGIN_H
#define SIMCLR_EVAL_GOLDEN_MARGIN_H

#include <stddef.h>

#include "../nn/error.h"
#include "../nn/head.h"
#include "../nn/params.h"
#include "../nn/resnet.h"

/* The margin every gradient-carrying network case keeps (stated in README.txt). */
#define GOLDEN_MARGIN 1e-4

typedef struct golden_margin {
    double minimum;   /* smallest |x| / rms(layer) over every ReLU input measured so far */
    size_t inputs;    /* ReLU inputs measured */
    size_t layers;    /* ReLU layers (per forward pass) measured */
} golden_margin;

void golden_margin_init(golden_margin *margin);

/* Adds the ReLU inputs of the last resnet_forward on acts (training: as it was called). With
 * activations made for training (resnet_activations_create), the stem's and the downsample
 * branches' convolution outputs, which their forward pass does not keep, are made again (the
 * same bits) in a map of its own, with acts' workspace. */
int golden_margin_resnet(golden_margin *margin, resnet_activations *acts, const resnet *net,
                         const param_store *store, int training, simclr_error *err);

/* Adds the ReLU inputs of the last training-mode projection_head_forward on acts (a head with
 * batch norm; without it the inputs are not kept, and the minimum becomes 0). */
void golden_margin_head(golden_margin *margin, const head_activations *acts,
                        const projection_head *head, const param_store *store);

#endif
