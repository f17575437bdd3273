/*
 * tests/test_hostile_files.c — files and folders as an attacker or a careless user leaves them:
 *
 *   never hang:      a FIFO or a folder where a data file or a checkpoint is expected is refused
 *                    with "not a regular file" (each test has a generous timeout as hang guard);
 *   never write through someone else's file: a symbolic link planted at a temporary file's name
 *                    leaves its target as it was; two runs on one --out: the second stops at once
 *                    naming the first's pid; an unwritable --out fails before the first epoch;
 *   never lose a run: --resume without --out continues in the checkpoint's own folder; SIGINT
 *                    and SIGTERM stop a run with status 130 / 143 and a resumable checkpoint;
 *   true messages:   a diverging run names a checkpoint only if one exists;
 *   CIFAR as torchvision keeps it: a folder holding cifar-10-binary.tar.gz loads as the archive.
 *
 * POSIX only (FIFOs, symbolic links, signals); runs the ./simclr that `make test` builds.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_helpers.h"

#define ROOT "/tmp/simclr_test_hostile"

/* A tiny model on 96 built-in images: 6 steps of 16 per epoch. */
#define TINY "./simclr train --data builtin:shapes --limit 96 --batch 16 --width 0.0625 " \
             "--hidden 16 --out-dim 8 --threads 1 "

static int run(const char *command)
{
    const int status = system(command);
    cr_assert(status != -1 && WIFEXITED(status), "%s did not run", command);
    return WEXITSTATUS(status);
}

/* The whole text of a small file ("" when it is missing), in a static buffer. */
static const char *text_of(const char *path)
{
    static char text[65536];
    FILE *file = fopen(path, "rb");
    size_t n = 0;
    if (file != NULL) {
        n = fread(text, 1, sizeof text - 1, file);
        fclose(file);
    }
    text[n] = '\0';
    return text;
}

static void fresh_folder(const char *path)
{
    char command[512];
    snprintf(command, sizeof command, "rm -rf %s && mkdir -p %s", path, path);
    cr_assert_eq(run(command), 0);
}

/* ---- never hang on a file ------------------------------------------------------------------- */

Test(hostile_files, fifo_named_like_a_cifar_batch, .timeout = HANG_GUARD_SECONDS)
{
    simclr_error err;
    dataset data;
    fresh_folder(ROOT "-cifar-fifo");
    cr_assert_eq(mkfifo(ROOT "-cifar-fifo/data_batch_1.bin", 0644), 0);
    cr_assert_eq(dataset_open(&data, ROOT "-cifar-fifo", 1, 0, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "not a regular file") != NULL, "%s", err.message);
}

Test(hostile_files, fifo_named_like_idx_labels, .timeout = HANG_GUARD_SECONDS)
{
    /* a valid IDX image file (2 images of 2×2), the labels a FIFO */
    static const unsigned char images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
                                           1, 2, 3, 4, 5, 6, 7, 8};
    simclr_error err;
    dataset data;
    FILE *file;
    fresh_folder(ROOT "-idx-fifo");
    file = fopen(ROOT "-idx-fifo/train-images-idx3-ubyte", "wb");
    cr_assert_not_null(file);
    fwrite(images, 1, sizeof images, file);
    fclose(file);
    cr_assert_eq(mkfifo(ROOT "-idx-fifo/train-labels-idx1-ubyte", 0644), 0);
    cr_assert_eq(dataset_open(&data, ROOT "-idx-fifo", 1, 0, &err), SIMCLR_FAILED);
    cr_expect(strstr(err.message, "not a regular file") != NULL, "%s", err.message);
}

Test(hostile_files, checkpoint_that_is_a_fifo_or_a_folder, .timeout = HANG_GUARD_SECONDS)
{
    fresh_folder(ROOT "-ckpt");
    cr_assert_eq(mkfifo(ROOT "-ckpt/fifo.safetensors", 0644), 0);
    cr_assert_eq(run("mkdir -p " ROOT "-ckpt/folder.safetensors"), 0);
    cr_expect_neq(run("./simclr train --resume " ROOT "-ckpt/fifo.safetensors > /dev/null "
                      "2> " ROOT "-ckpt/err"), 0);
    cr_expect(strstr(text_of(ROOT "-ckpt/err"), "not a regular file") != NULL, "%s",
              text_of(ROOT "-ckpt/err"));
    cr_expect_neq(run("./simclr eval --checkpoint " ROOT "-ckpt/folder.safetensors > /dev/null "
                      "2> " ROOT "-ckpt/err"), 0);
    cr_expect(strstr(text_of(ROOT "-ckpt/err"), "not a regular file") != NULL, "%s",
              text_of(ROOT "-ckpt/err"));
}

/* ---- never write through someone else's file ------------------------------------------------ */

Test(hostile_files, symlink_at_the_temporary_name_is_not_written_through)
{
    simclr_error err;
    char link[256];
    int n;
    fresh_folder(ROOT "-link");
    cr_assert_eq(run("printf precious > " ROOT "-link/target"), 0);
    /* the old fixed name, and the names this process's next writes could guess */
    cr_assert_eq(symlink(ROOT "-link/target", ROOT "-link/out.bin.tmp"), 0);
    for (n = 0; n < 64; n++) {
        snprintf(link, sizeof link, ROOT "-link/out.bin.tmp.%ld.%d", (long)getpid(), n);
        cr_assert_eq(symlink(ROOT "-link/target", link), 0);
    }
    for (n = 0; n < 4; n++)
        if (file_write_atomically(ROOT "-link/out.bin", (const uint8_t *)"new", 3, &err) ==
            SIMCLR_OK)
            cr_expect_str_eq(text_of(ROOT "-link/out.bin"), "new");
        else
            cr_expect(strstr(err.message, "exists") != NULL, "the reason: %s", err.message);
    cr_expect_str_eq(text_of(ROOT "-link/target"), "precious", "written through a link");
}

/* Names in `folder` other than "." and ".."; the count, and the names joined into `names`. */
static int folder_entries(const char *folder, char *names, size_t capacity)
{
    DIR *listing = opendir(folder);
    struct dirent *entry;
    int count = 0;
    names[0] = '\0';
    cr_assert_not_null(listing, "%s", folder);
    while ((entry = readdir(listing)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            count++;
            if (strlen(names) + strlen(entry->d_name) + 2 < capacity)
                strcat(strcat(names, entry->d_name), " ");
        }
    closedir(listing);
    return count;
}

/* A finished write and a failed one (the path is a folder, so the rename fails) leave no
 * temporary file behind, and the failure says why. */
Test(hostile_files, atomic_writes_leave_no_temporary_and_say_why)
{
    simclr_error err;
    char names[1024];
    fresh_folder(ROOT "-atomic");
    cr_assert_eq(file_write_atomically(ROOT "-atomic/a.bin", (const uint8_t *)"abc", 3, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(run("mkdir " ROOT "-atomic/folder"), 0);
    cr_expect_eq(file_write_atomically(ROOT "-atomic/folder", (const uint8_t *)"abc", 3, &err),
                 SIMCLR_FAILED);
    cr_expect(strstr(err.message, strerror(EISDIR)) != NULL, "no reason: %s", err.message);
    cr_expect_eq(folder_entries(ROOT "-atomic", names, sizeof names), 2, "%s", names);
    cr_expect_str_eq(text_of(ROOT "-atomic/a.bin"), "abc");
}

/* Waits until `path` exists, however long the machine takes (the test's hang guard bounds it),
 * while `child` runs: 1 once the file is there, 0 if the child ended first (it is then reaped). */
static int wait_for_file_while_running(const char *path, pid_t child)
{
    while (access(path, F_OK) != 0) {
        if (waitpid(child, NULL, WNOHANG) == child)
            return access(path, F_OK) == 0;
        usleep(50000);
    }
    return 1;
}

Test(hostile_files, second_run_on_one_out_folder_stops_at_once, .timeout = HANG_GUARD_SECONDS)
{
    char command[512];
    pid_t first;
    fresh_folder(ROOT "-lock");
    first = fork();
    cr_assert(first >= 0);
    if (first == 0) {
        execl("/bin/sh", "sh", "-c", "exec " TINY "--epochs 200 --out " ROOT "-lock/run "
              "> /dev/null 2>&1", (char *)NULL);
        _exit(127);
    }
    cr_assert(wait_for_file_while_running(ROOT "-lock/run/.lock", first),
              "the first run ended without a lock file");
    cr_expect_neq(run("timeout " HANG_GUARD_TEXT " " TINY "--epochs 1 --out " ROOT "-lock/run > /dev/null "
                      "2> " ROOT "-lock/err"), 0, "the second run was not stopped");
    snprintf(command, sizeof command, "process %ld", (long)first);
    cr_expect(strstr(text_of(ROOT "-lock/err"), command) != NULL, "not named: %s",
              text_of(ROOT "-lock/err"));
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    /* the lock of a process no longer running is taken over */
    cr_expect_eq(run(TINY "--epochs 1 --out " ROOT "-lock/run > /dev/null 2> " ROOT "-lock/err"),
                 0, "%s", text_of(ROOT "-lock/err"));
    cr_expect(strstr(text_of(ROOT "-lock/err"), "took over") != NULL, "%s",
              text_of(ROOT "-lock/err"));
    cr_expect_neq(access(ROOT "-lock/run/.lock", F_OK), 0, "the lock is left behind");
}

/* A FIFO at the lock's name is neither opened to block nor believed: the run goes on. */
Test(hostile_files, fifo_at_the_lock_name, .timeout = HANG_GUARD_SECONDS)
{
    fresh_folder(ROOT "-lock-fifo/run");
    cr_assert_eq(mkfifo(ROOT "-lock-fifo/run/.lock", 0644), 0);
    cr_expect_eq(run(TINY "--epochs 1 --out " ROOT "-lock-fifo/run > /dev/null 2> "
                      ROOT "-lock-fifo/err"), 0, "%s", text_of(ROOT "-lock-fifo/err"));
}

Test(hostile_files, unwritable_out_fails_before_the_first_epoch, .timeout = HANG_GUARD_SECONDS)
{
    fresh_folder(ROOT "-unwritable");
    cr_assert_eq(run("touch " ROOT "-unwritable/file"), 0);
    /* a folder even root cannot write into, and a path under a regular file */
    cr_expect_neq(run(TINY "--epochs 1 --out /proc > /dev/null 2> " ROOT "-unwritable/err"), 0);
    cr_expect(strstr(text_of(ROOT "-unwritable/err"), "epoch 1/") == NULL,
              "trained before finding /proc unwritable: %s", text_of(ROOT "-unwritable/err"));
    cr_expect_neq(run(TINY "--epochs 1 --out " ROOT "-unwritable/file/run > /dev/null 2> "
                      ROOT "-unwritable/err"), 0);
    cr_expect(strstr(text_of(ROOT "-unwritable/err"), "epoch 1/") == NULL, "%s",
              text_of(ROOT "-unwritable/err"));
}

/* ---- never lose a run ----------------------------------------------------------------------- */

Test(hostile_files, resume_without_out_continues_in_the_checkpoints_folder, .timeout = HANG_GUARD_SECONDS)
{
    char command[1024], here[512];
    cr_assert_not_null(getcwd(here, sizeof here));
    fresh_folder(ROOT "-resume");
    fresh_folder(ROOT "-resume-cwd");
    cr_assert_eq(run(TINY "--epochs 1 --out " ROOT "-resume/run > /dev/null 2>&1"), 0);
    snprintf(command, sizeof command, "cd " ROOT "-resume-cwd && %s/simclr train --resume "
             ROOT "-resume/run/checkpoint.safetensors --epochs 2 > /dev/null 2>&1", here);
    cr_assert_eq(run(command), 0);
    cr_expect_neq(access(ROOT "-resume-cwd/simclr-run", F_OK), 0, "wrote ./simclr-run");
    cr_expect_eq(run("grep -c . " ROOT "-resume/run/log.csv | grep -qx 13"), 0,
                 "log.csv of the run's folder does not hold 2 epochs of 6 steps");
}

/* Starts a long run, sends `signal_number` once its first checkpoint exists; the exit status is
 * 128 + the signal's number and the run resumes from its checkpoint. */
static void stop_with_signal(int signal_number, const char *folder)
{
    char command[512], checkpoint[256];
    int status;
    pid_t child;
    snprintf(command, sizeof command, "rm -rf %s", folder);
    run(command);
    snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.safetensors", folder);
    snprintf(command, sizeof command, "exec " TINY "--epochs 200 --out %s > /dev/null 2> %s.err",
             folder, folder);
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    cr_assert(wait_for_file_while_running(checkpoint, child),
              "the run ended without a checkpoint");
    kill(child, signal_number);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 128 + signal_number,
              "exit status %d (signalled: %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status));
    snprintf(command, sizeof command, "%s.err", folder);
    cr_expect(strstr(text_of(command), "stopped by signal") != NULL, "%s", text_of(command));
    snprintf(command, sizeof command, "%s/.lock", folder);
    cr_expect_neq(access(command, F_OK), 0, "the lock is left behind");
    snprintf(command, sizeof command, "./simclr train --resume %s --epochs 1000 --stop-after 1 "
             "> /dev/null 2>&1", checkpoint);
    cr_expect_eq(run(command), 0, "the checkpoint does not resume");
}

Test(hostile_files, sigint_stops_a_run_resumably, .timeout = HANG_GUARD_SECONDS)
{
    stop_with_signal(SIGINT, ROOT "-sigint");
}

Test(hostile_files, sigterm_stops_a_run_resumably, .timeout = HANG_GUARD_SECONDS)
{
    stop_with_signal(SIGTERM, ROOT "-sigterm");
}

/* ---- true messages --------------------------------------------------------------------------- */

/* Sets every value of the first tensor whose name ends with `suffix` to NaN, in place. */
/* Sets every value of the tensor whose name ends in `suffix` to the largest finite float: a
 * checkpoint the reader accepts (its values are finite), whose next step overflows. */
static void poison_tensor(const char *path, const char *suffix)
{
    simclr_error err;
    safetensors_file file;
    unsigned char length_bytes[8];
    unsigned long header = 0;
    size_t i, b;
    FILE *stream;
    int k;
    cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
    stream = fopen(path, "r+b");
    cr_assert_not_null(stream);
    cr_assert_eq(fread(length_bytes, 1, 8, stream), 8u);
    for (k = 7; k >= 0; k--)
        header = header * 256 + length_bytes[k];
    for (i = 0; i < file.count; i++) {
        const char *name = file.tensors[i].name;
        if (strlen(name) < strlen(suffix) ||
            strcmp(name + strlen(name) - strlen(suffix), suffix) != 0)
            continue;
        cr_assert_eq(fseek(stream, (long)(8 + header + file.tensors[i].begin), SEEK_SET), 0);
        for (b = file.tensors[i].begin; b + 4 <= file.tensors[i].end; b += 4)
            fwrite("\xff\xff\x7f\x7f", 1, 4, stream); /* FLT_MAX, little-endian */
        break;
    }
    cr_assert(i < file.count, "no tensor %s", suffix);
    fclose(stream);
    safetensors_free(&file);
}

Test(hostile_files, divergence_names_a_checkpoint_only_if_it_exists, .timeout = HANG_GUARD_SECONDS)
{
    const char *message;
    fresh_folder(ROOT "-diverge");
    cr_assert_eq(run(TINY "--epochs 1 --out " ROOT "-diverge/a > /dev/null 2>&1"), 0);
    poison_tensor(ROOT "-diverge/a/checkpoint.safetensors", "backbone.conv1.weight");
    /* resumed into a new folder, where no checkpoint is: the message must not claim one */
    cr_expect_neq(run("./simclr train --resume " ROOT "-diverge/a/checkpoint.safetensors "
                      "--epochs 2 --out " ROOT "-diverge/b > /dev/null 2> " ROOT "-diverge/err"),
                  0);
    message = text_of(ROOT "-diverge/err");
    cr_expect(strstr(message, "non-finite") != NULL || strstr(message, "NaN") != NULL, "%s",
              message);
    cr_expect_neq(access(ROOT "-diverge/b/checkpoint.safetensors", F_OK), 0);
    cr_expect(strstr(message, ROOT "-diverge/b") == NULL, "names a checkpoint in the new "
              "folder, where there is none: %s", message);
}

/* ---- CIFAR as torchvision keeps it ----------------------------------------------------------- */

Test(hostile_files, folder_holding_the_cifar10_archive_loads_as_the_archive, .timeout = HANG_GUARD_SECONDS)
{
    simclr_error err;
    dataset data;
    FILE *file;
    int b, r, p;
    fresh_folder(ROOT "-cifar-root/cifar-10-batches-bin");
    for (b = 1; b <= 6; b++) {
        char path[256];
        if (b <= 5)
            snprintf(path, sizeof path, ROOT "-cifar-root/cifar-10-batches-bin/data_batch_%d.bin",
                     b);
        else
            snprintf(path, sizeof path, ROOT "-cifar-root/cifar-10-batches-bin/test_batch.bin");
        file = fopen(path, "wb");
        cr_assert_not_null(file);
        for (r = 0; r < 2; r++) {
            fputc((b + r) % 10, file);
            for (p = 0; p < 3 * 1024; p++)
                fputc((b + r + p) % 251, file);
        }
        fclose(file);
    }
    cr_assert_eq(run("cd " ROOT "-cifar-root && tar czf cifar-10-binary.tar.gz "
                     "cifar-10-batches-bin && rm -rf cifar-10-batches-bin"), 0);
    cr_assert_eq(dataset_open(&data, ROOT "-cifar-root", 1, 0, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect_eq(data.count, 10u);
    cr_expect_eq(data.classes, 10);
    dataset_close(&data);
    cr_assert_eq(dataset_open(&data, ROOT "-cifar-root", 0, 0, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect_eq(data.count, 2u);
    dataset_close(&data);
}
