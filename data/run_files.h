/*
 * data/run_files.h — the files of a training run besides its checkpoint, for people to read:
 *
 *   log.csv    one row per step: step,epoch,loss,learning_rate,views_per_second (step and epoch
 *              counted from 1), and the log's accuracy column when it keeps one (online_top1,
 *              test_top1: empty where it was not measured)
 *   loss.svg   the loss per step as a line plot (at most 1000 points, each the mean of its
 *              stretch of steps), the axis ranges written out and a light line at every epoch
 *
 * and the run's folder, made with its missing parents as `mkdir -p` does (POSIX; elsewhere the
 * folder must exist). Both files are written atomically (a temporary file, then a rename).
 *
 * Around a run (POSIX; elsewhere these do nothing):
 *   DIR/.lock  made exclusively (O_CREAT|O_EXCL) when a run starts, holding its process id, and
 *              removed when it ends, also after an error: a second run on the same folder stops
 *              at once naming the first one's pid. A lock whose process is no longer running
 *              (kill(pid, 0) fails with ESRCH) is taken over, and its pid told to the caller.
 *   the folder is checked writable (a probe file made and removed) before the first epoch.
 *   SIGINT and SIGTERM only set a flag (sigaction; C's signal() elsewhere), which the training
 *              loop reads after every step, so a run stops between steps with nothing
 *              half-written and its last checkpoint as it was. A second signal ends the process
 *              at once, as it would without the flag (the files are still never half-written:
 *              every write is atomic).
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

/* `text` as one CSV field into out (room for 2·strlen(text) + 3): in double quotes, each quote
 * doubled (RFC 4180). Returns the length written (no terminating NUL counted). */
size_t run_files_csv_field(char *out, const char *text);

/* Both, as dir/log.csv and dir/loss.svg. */
int run_files_write(const char *dir, const training_log *log, size_t steps_per_epoch,
                    simclr_error *err);

/* The folder of the file `path` into out ("." for a bare name, "/" for a file at the root). */
void run_files_folder_of(char *out, size_t size, const char *path);

/* Makes `dir` and any missing parents unless it exists; fails if it is not a folder. */
int run_files_make_folder(const char *dir, simclr_error *err);

/* Creates a probe file in dir and removes it: fails, saying why, if dir is not writable. */
int run_files_check_writable(const char *dir, simclr_error *err);

/* Takes dir/.lock for this process (its path into lock_path, "" where there is no lock);
 * fails, naming the other process, if a running process holds it. *stale_owner: the pid of a
 * process no longer running whose lock was taken over, else 0 (also when the lock taken over
 * named no process: empty, or not a regular file). */
int run_files_lock(const char *dir, char *lock_path, size_t capacity, long *stale_owner,
                   simclr_error *err);

/* Before a run's first epoch: run_files_make_folder, run_files_lock, run_files_check_writable;
 * on failure nothing stays locked. */
int run_files_start(const char *dir, char *lock_path, size_t capacity, long *stale_owner,
                    simclr_error *err);

/* Removes the lock taken by run_files_lock (nothing if lock_path is ""). */
void run_files_unlock(char *lock_path);

/* From now on SIGINT and SIGTERM set a flag instead of ending the process. */
void run_files_catch_signals(void);

/* The signal caught since run_files_catch_signals (SIGINT, SIGTERM), or 0. */
int run_files_signal_caught(void);

#endif
