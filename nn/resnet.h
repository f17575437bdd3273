/*
 * nn/resnet.h — the encoder f(·) of SimCLR: ResNet-18, -34 and -50 as torchvision builds them
 * (He et al. 2016; torchvision.models.resnet, "v1.5": the stride of a bottleneck is on its 3×3
 * convolution), with torchvision's parameter names and layout, so that checkpoints
 * load into torchvision.models.resnet18() with strict=False.
 *
 *   stem      imagenet: conv 7×7/2 pad 3 → BN → ReLU → max-pool 3×3/2 pad 1
 *             cifar:    conv 3×3/1 pad 1 → BN → ReLU            (paper Appendix B.9)
 *   layer1-4  BasicBlock ×(2,2,2,2) for resnet18, ×(3,4,6,3) for resnet34;
 *             Bottleneck ×(3,4,6,3) for resnet50 (expansion 4); widths 64·w, 128·w, 256·w, 512·w
 *             (w the width multiplier, rounded to the nearest channel count, at least 1); the first
 *             block of layers 2-4 has stride 2; a block whose stride or width changes gets the
 *             downsample branch conv 1×1/s → BN.
 *   BasicBlock   out = ReLU(BN(conv3×3(ReLU(BN(conv3×3/s(x))))) + identity(x))
 *   Bottleneck   out = ReLU(BN(conv1×1(ReLU(BN(conv3×3/s(ReLU(BN(conv1×1(x))))))) + identity(x))
 *   features  h = global average pool of layer4's output: (B, 512·w) or (B, 2048·w)
 *   fc        optional Linear(features → num_classes), torchvision's classifier (0: none, the
 *             SimCLR encoder)
 * Convolutions have no bias; any number of input channels (1 for Fashion-MNIST, 3 for RGB).
 *
 * A resnet is the architecture and the offsets of its state in a param_store (nn/params.h).
 * Activations live in a resnet_activations planned once for a batch size and input size: every
 * buffer a training step needs, including the backward pass's, is allocated there, so forward
 * and backward allocate nothing.
 *
 * Memory plan (training): each block keeps its convolutions' outputs (the batchnorm inputs) and
 * its output, ReLU(BN(last convolution's output) + identity); the outputs of the inner batch
 * norms (with their ReLU), the next convolutions' inputs, are made again by the backward pass
 * from the convolution outputs and the saved statistics, and so are the downsample branch's
 * 1×1 convolution output from the block's input and the stem's convolution output from x
 * (convolutions of 1 to 3 input channels or 1×1 ones: cheap to make again). A block's
 * backward pass needs three buffers (∂L/∂ of its output and input, and a convolution's ∂L/∂x;
 * each batch norm's input gradient goes over the convolution output it has just consumed):
 * they lie in the maps of the blocks after it, which are no longer needed then, so the
 * activations take the maps, the last block's three buffers and the workspace. The forward
 * pass keeps its passing maps (the inner batch norms' outputs, the downsample branch's, the
 * stem's) in the same buffers.
 *
 * Gradient convention as nn/conv2d.h: parameter gradients accumulate into store->grads.
 */
#ifndef SIMCLR_NN_RESNET_H
#define SIMCLR_NN_RESNET_H

#include <stddef.h>
#include <stdint.h>

#include "batchnorm.h"
#include "conv2d.h"
#include "error.h"
#include "params.h"
#include "pool.h"
#include "ranks.h"

#define RESNET_MAX_BLOCKS 16

typedef enum resnet_arch { RESNET18 = 18, RESNET34 = 34, RESNET50 = 50 } resnet_arch;
typedef enum resnet_stem { STEM_IMAGENET = 0, STEM_CIFAR = 1 } resnet_stem;

typedef struct resnet_config {
    resnet_arch arch;
    resnet_stem stem;
    double width;        /* channel multiplier w, 1.0 for torchvision's widths */
    size_t in_channels;  /* 3 for RGB, 1 for grayscale */
    size_t num_classes;  /* 0: no fc layer (the SimCLR encoder) */
} resnet_config;

/* Offsets of a convolution's weight and its geometry. */
typedef struct conv_layer {
    size_t weight; /* offset in params of (O, C, k, k) */
    size_t in_channels, out_channels, kernel, stride, padding;
} conv_layer;

typedef struct resnet_block {
    size_t convs;             /* 2 (BasicBlock) or 3 (Bottleneck) */
    conv_layer conv[3];
    bn_layer bn[3];
    int has_downsample;
    conv_layer down_conv;
    bn_layer down_bn;
    size_t in_channels, out_channels, stride;
} resnet_block;

typedef struct resnet {
    resnet_config config;
    conv_layer conv1;
    bn_layer bn1;
    resnet_block blocks[RESNET_MAX_BLOCKS];
    size_t block_count;
    size_t feature_dim;       /* 512·w or 2048·w */
    size_t fc_weight, fc_bias; /* offsets, when num_classes > 0 */
} resnet;

/* Buffers of one block for one batch (pointers into the activation arena). */
typedef struct resnet_block_buffers {
    conv2d_shape conv_shape[3];
    batchnorm_shape bn_shape[3];
    conv2d_shape down_shape;
    batchnorm_shape down_bn_shape;
    float *conv_out[3];        /* (B, ch, h, w) batchnorm inputs */
    float *bn_out[3];          /* (B, ch, h, w) batchnorm(+ReLU) outputs; the last is the block
                                * output. Training: the inner ones in grad_in, made again by the
                                * backward pass from conv_out */
    float *down_conv_out;      /* (B, out, h, w); training: in scratch, made again by the
                                * backward pass */
    float *mean[3], *inverse_std[3], *down_mean, *down_inverse_std; /* (ch) saved statistics */
    float *grad_out, *grad_in; /* ∂L/∂(block output) and ∂L/∂(block input): training, in the
                                * maps of later blocks (or above all maps); evaluation: grad_out
                                * is the downsample batch norm's output, shared */
    float *scratch;            /* training: a convolution's ∂L/∂x (block_backward) */
    const float *input;        /* the block's input, set by the forward pass */
    size_t out_height, out_width;
} resnet_block_buffers;

/* Evaluation mode keeps no map for a backward pass: every map of the network goes to one of
 * three slots as large as the largest (the block's input, its convolutions' outputs, its batch
 * norms' outputs), so the activations take 3 maps instead of all of them. */
#define RESNET_SLOTS 3

typedef struct resnet_activations {
    size_t batch, height, width;          /* B and the input's H × W */
    float *arena;                         /* everything below that is float */
    conv2d_shape stem_shape;
    batchnorm_shape stem_bn_shape;
    pool_shape pool;
    float *stem_conv_out, *stem_bn_out, *pool_out; /* training: stem_conv_out and (imagenet)
                                                    * stem_bn_out are made again */
    float *stem_grad, *stem_scratch;      /* training: the stem's other gradient buffers (the
                                           * second one with the imagenet stem's max-pool) */
    float *stem_mean, *stem_inverse_std;
    resnet_block_buffers blocks[RESNET_MAX_BLOCKS];
    size_t final_height, final_width;     /* layer4's output size */
    float *features;                      /* (B, feature_dim) h */
    float *logits;                        /* (B, num_classes) with fc */
    float *grad_features;                 /* (B, feature_dim) ∂L/∂h, set by the caller */
    float *grad_logits;                   /* (B, num_classes) with fc */
    size_t grad_floats;                   /* the largest map */
    float *workspace;                     /* convolution and linear workspace */
    size_t workspace_floats;
    size_t arena_floats;
    const float *input;                   /* x of the last forward pass */
    int inference;                        /* made without gradient buffers; the maps in
                                           * RESNET_SLOTS slots of slot_floats, reused */
    float *slots[RESNET_SLOTS];
    size_t slot_floats;
    size_t shards;                        /* the batch's shards and ranks (nn/ranks.h) */
    const rank_group *ranks;
} resnet_activations;

/* "resnet18" / "resnet34" / "resnet50" and "imagenet" / "cifar" <-> enums. */
int resnet_arch_parse(const char *name, resnet_arch *arch, simclr_error *err);
int resnet_stem_parse(const char *name, resnet_stem *stem, simclr_error *err);
const char *resnet_arch_name(resnet_arch arch);
const char *resnet_stem_name(resnet_stem stem);

/* Plans the network's state into store under `prefix` ("" for torchvision's own names,
 * "backbone." inside a SimCLR model). The store is allocated later by the caller. */
int resnet_plan(resnet *net, const resnet_config *config, param_store *store, const char *prefix,
                simclr_error *err);

/* Plans and allocates the activations for batches of up to `batch` images of height × width. */
int resnet_activations_create(resnet_activations *acts, const resnet *net, size_t batch,
                              size_t height, size_t width, simclr_error *err);

/* The same for data-parallel training (nn/ranks.h): the batch is this rank's `shards` shards
 * (a power of two dividing it), and every sum over the batch in the training-mode passes (the
 * convolutions' weight gradients, the batch norms' statistics and their gradients' sums) is
 * made shard by shard and added by the pairwise tree, across `ranks` when not NULL (whose
 * scratch must hold 2 × feature_dim doubles: the widest batch norm's two sums a channel, the
 * last block's). shards 1 and ranks NULL is resnet_activations_create. */
int resnet_activations_create_sharded(resnet_activations *acts, const resnet *net, size_t batch,
                                      size_t height, size_t width, size_t shards,
                                      const rank_group *ranks, simclr_error *err);

/* The same for the forward pass alone (evaluation mode: resnet_forward with training 0): no
 * gradient buffers; resnet_backward must not be called on them. */
int resnet_activations_create_inference(resnet_activations *acts, const resnet *net,
                                        size_t batch, size_t height, size_t width,
                                        simclr_error *err);
void resnet_activations_destroy(resnet_activations *acts);

/* The multiply-adds × 2 of the network's convolutions computed directly (2·B·O·C·k²·Ho·Wo
 * each) for the activations' batch: the forward pass's, and with `backward` also the backward
 * pass's (the input gradient and the weight gradient, each as many; the stem's input gets no
 * gradient). What an "effective" rate divides by the time: Winograd does fewer. */
double resnet_convolution_flops(const resnet_activations *acts, const resnet *net, int backward);

/* h = f(x) into acts->features (and acts->logits with fc). training = 1 uses batch statistics
 * and updates the running ones; 0 uses the running statistics (evaluation mode). */
void resnet_forward(resnet_activations *acts, const float *x, /* (B, C, H, W) */
                    const resnet *net, param_store *store, int training);

/* Back-propagates acts->grad_features (or acts->grad_logits with fc) after a training-mode
 * forward pass, accumulating into store->grads. The input gets no gradient. */
void resnet_backward(resnet_activations *acts, const resnet *net, param_store *store);

#endif
