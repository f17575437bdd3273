/*
 * eval/golden_distributed.h — reference cases of data-parallel training, computed in one process
 * by simulating K ranks, for checking a distributed implementation (PyTorch DDP with LightlySSL's
 * NTXentLoss(gather_distributed=True) and SyncBatchNorm, say) against ours. See golden.h for the
 * case format and DIR/README.txt for the conventions, stated there in full.
 *
 * Shape legend: K ranks; N images (NT-Xent) or B samples (batch norm) in the global batch, split
 * in order, n = N/K or B/K per rank: rank r holds images / samples r·n … r·n + n − 1.
 *
 *   ntxent_distributed     NT-Xent over gathered rows: rank r's loss is the mean over its 2n
 *                          anchors (both views of its images) against all 2N − 1 other rows
 *                          (loss/contrastive.h, ntxent_anchors_*); the case holds every rank's
 *                          loss and its gradient with respect to every gathered row, and the
 *                          whole batch's loss and gradient (the mean over ranks)
 *   batchnorm_distributed  batch norm with the statistics of the whole batch (SyncBatchNorm), by
 *                          the library's batch norm cut into K shards, one per rank, whose sums
 *                          combine as K ranks' do (nn/ranks.h): 2-D (B, C, H, W) and 1-D (B, C)
 */
#ifndef SIMCLR_EVAL_GOLDEN_DISTRIBUTED_H
#define SIMCLR_EVAL_GOLDEN_DISTRIBUTED_H

#include <stddef.h>

#include "golden_case.h"

/* One ntxent_distributed case: K ranks, z0 and z1 (N, d), K dividing N. */
int golden_ntxent_distributed(golden_case *g, size_t K, size_t N, size_t d, float temperature);

/* One batchnorm_distributed case: K ranks, x (B, C, H, W), or (B, C) when H = W = 0; K
 * dividing B. */
int golden_batchnorm_distributed(golden_case *g, size_t K, size_t B, size_t C, size_t H,
                                 size_t W);

/* The text README.txt gives these two ops. */
void golden_distributed_readme(golden_case *g);

#endif
