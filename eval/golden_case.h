/*
 * eval/golden_case.h — one reference case being assembled: its op, scalar metadata and tensors
 * (owned by the case until written as the file name.safetensors), and the README.txt that
 * lists the cases; each file is handed to a sink (a folder, a digest). The writers of every case (golden.c, golden_streams.c, golden_train.c) use it; see
 * golden.h for the format.
 */
#ifndef SIMCLR_EVAL_GOLDEN_CASE_H
#define SIMCLR_EVAL_GOLDEN_CASE_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"
#include "../nn/params.h"

/* The seed of every case's inputs. */
#define GOLDEN_SEED 2020

typedef struct golden_case golden_case;

/* Where the finished files go: called with each file's name (conv2d_0.safetensors, …,
 * README.txt) and its bytes; returns SIMCLR_OK or fails with the reason in err. A folder on disk
 * (golden_write_all) or anything else: a digest, a serial line (golden_emit_all). */
typedef int (*golden_sink)(const char *file_name, const uint8_t *bytes, size_t size,
                           void *context, simclr_error *err);

/* A case writer handing its files to sink(…, context). */
golden_case *golden_case_create(golden_sink sink, void *context, simclr_error *err);
void golden_case_destroy(golden_case *g);
/* Hands over README.txt: the text appended so far, the cases, the margin summary. */
int golden_case_write_readme(golden_case *g);
/* Marks the case being assembled as failed (an allocation), or asks whether it is. */
void golden_case_fail(golden_case *g);
int golden_case_failed(const golden_case *g);
/* A case left out: it still takes its number (its input streams). */
void golden_case_skip(golden_case *g);

/* A case: begin it with its op (metadata "op"), add scalar
 * metadata and tensors (zero-filled, owned by the case until it is written), then finish it as
 * the file name.safetensors, listed in README.txt. */
void golden_case_begin(golden_case *g, const char *op);
void golden_case_meta(golden_case *g, const char *key, const char *format, ...);
float *golden_case_tensor(golden_case *g, const char *name, int ndim, size_t d0, size_t d1,
                          size_t d2, size_t d3);
int64_t *golden_case_int_tensor(golden_case *g, const char *name, int ndim, size_t d0,
                                size_t d1);
void golden_case_copy_store(golden_case *g, const char *prefix, const param_store *store);
/* velocity (param_floats, the store's parameter layout) by the trainable entries' names */
void golden_case_copy_velocity(golden_case *g, const char *prefix, const param_store *store,
                               const float *velocity);
int golden_case_finish(golden_case *g, const char *name);
void golden_case_abandon(golden_case *g); /* frees a case that will not be written */
simclr_error *golden_case_error(golden_case *g);
/* Uniform values on [low, high) from the case's input stream number `which`. */
void golden_case_fill(golden_case *g, float *x, size_t count, float low, float high,
                      uint64_t which);
/* Notes a training case's measured ReLU margin, for README.txt's summary. */
void golden_note_margin(golden_case *g, double margin);
/* Appends text to README.txt (where the list of cases has got to). */
void golden_readme(golden_case *g, const char *format, ...);

#endif
