/*
 * data/run_files.h — the files of a training run besides its checkpoint, for people to read:
 *
 *   log.csv    one row per step: step,epoch,loss,learning_rate,views_per_second (step and epoch
 *              counted from 1)
 *   loss.svg   the loss per step as a line plot (at most 1000 points, each the mean of its
 *              stretch of steps), the axis ranges written out and a light line at every epoch
 *
 * and the run's folder, made with its missing parents as `mkdir -p` does (POSIX; elsewhere the
 * folder must exist). Both files are written atomically (a temporary file, then a rename).
 */
#ifndef SIMCLR_DATA_RUN_FILES_H
#define SIMCLR_DATA_RUN_FILES_H

#include <stddef.h>

#include "../nn/error.h"
#include "checkpoint.h"

int run_files_write_csv(const char *path, const training_log *log, size_t steps_per_epoch,
                        simclr_error *err);

int run_files_write_loss_svg(const char *path, const training_log *log,
                             size_t steps_per_epoch, simclr_error *err);

/* Both, as dir/log.csv and dir/loss.svg. */
int run_files_write(const char *dir, const training_log *log, size_t steps_per_epoch,
                    simclr_error *err);

/* The folder of the file `path` into out ("." for a bare name, "/" for a file at the root). */
void run_files_folder_of(char *out, size_t size, const char *path);

/* Makes `dir` and any missing parents unless it exists; fails if it is not a folder. */
int run_files_make_folder(const char *dir, simclr_error *err);

#endif
