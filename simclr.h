/*
 * simclr.h — the public API of simclr-c, a C99 reference implementation of SimCLR
 * (Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations", arXiv 2002.05709).
 *
 * Include this one header and link libsimclr.a (and -lm, plus -fopenmp if the library was built
 * with OpenMP). The modules, each documented at the top of its own header:
 *
 *   nn/error.h     errors as values: functions return SIMCLR_OK or SIMCLR_FAILED and fill a
 *                  simclr_error with the reason; the library never prints or exits
 *   nn/tensor.h    the tensor type (shape + contiguous float32) and checked size arithmetic
 *   nn/rng.h       PCG32 + SplitMix64 streams, specified exactly (SPEC.md §1)
 *   nn/parallel.h  thread count (OpenMP optional; results are the same bits for any count)
 *   nn/gemm.h      C = alpha·op(A)·op(B) + beta·C: naive reference and packed fast path
 *   loss/contrastive.h  NT-Xent (paper Eq. 1), NT-Logistic, margin triplet: forward, backward
 *   loss/memory_bank.h  NT-Xent against a FIFO memory bank of negatives (LightlySSL)
 *   loss/cosine.h       normalised rows and cosine matrix, shared by the losses
 */
#ifndef SIMCLR_H
#define SIMCLR_H

#define SIMCLR_VERSION "0.1.0"

#include "nn/error.h"
#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/rng.h"
#include "nn/tensor.h"
#include "loss/contrastive.h"
#include "loss/cosine.h"
#include "loss/memory_bank.h"

#endif
