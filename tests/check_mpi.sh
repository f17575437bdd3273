#!/usr/bin/env bash
# tests/check_mpi.sh — data-parallel training over MPI (make check-mpi): the same bits for any
# number of ranks. Needs mpicc and mpirun (Debian: libopenmpi-dev openmpi-bin); installs
# nothing. Builds `make MPI=1` in its own copy of the tree, so the normal build is left alone.
#
#   1. the engine (tests/mpi/test_ranks.c) with K = 1, 2, 4 ranks: sums bit for bit the pairwise
#      tree, the gather, pieces; K = 3 refused with the reason and a non-zero exit; a rank
#      calling ranks_mpi_abort, an MPI call failing (reported with the rank), and a rank
#      killed with SIGKILL end the whole job non-zero within KILL_SECONDS (default 20);
#   2. training: a tiny run with K = 1, 2, 4 ranks and with
#      an OPENMP=0 MPI build, each against one process of a build without MPI (same compiler,
#      same flags): the same losses in log.csv and the same checkpoint bytes (all but the
#      log's timings, log.views_per_second; compared by python3); a run stopped after
#      an epoch with 2 ranks and resumed with 4, the same; a rank killed with SIGKILL mid-run
#      ends the job non-zero within KILL_SECONDS, and the last checkpoint loads (simclr eval)
#      and resumes. TRAINING=0 skips it.
#
# mpirun: Open MPI's gets --oversubscribe (more ranks than cores) and --bind-to none (each rank
# may run OpenMP threads on any core); as root it needs OMPI_ALLOW_RUN_AS_ROOT, set here. Other
# MPIs: MPIRUN_FLAGS="..." replaces those flags.
set -euo pipefail
cd "$(dirname "$0")/.."
KILL_SECONDS=${KILL_SECONDS:-20}
TRAINING=${TRAINING:-1}

missing=""
for tool in mpicc mpirun; do command -v $tool >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    echo "check_mpi:$missing missing (Debian: apt-get install libopenmpi-dev openmpi-bin)" >&2
    exit 1
fi
if mpirun --version 2>/dev/null | grep -q 'Open MPI'; then
    MPIRUN_FLAGS=${MPIRUN_FLAGS:---oversubscribe --bind-to none}
    [ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
else
    MPIRUN_FLAGS=${MPIRUN_FLAGS:-}
fi
# shellcheck disable=SC2086  # the flags are words
run_ranks() { local k=$1; shift; mpirun $MPIRUN_FLAGS -np "$k" "$@"; }

work=$(mktemp -d /tmp/simclr-mpi.XXXXXX)
trap 'rm -rf "$work"' EXIT
copy() { mkdir -p "$1"; git ls-files -z | xargs -0 tar cf - | tar xf - -C "$1"; }
since() { echo "$(( $(date +%s) - $1 )) s"; }
started=$(date +%s)

# kill_one_rank WHAT WAIT_FOR DELAY K PROGRAM ARGS...: runs PROGRAM on K ranks in the
# background, waits until the file WAIT_FOR exists (up to 120 s) and DELAY seconds more, kills
# one rank (a process under that mpirun running PROGRAM) with SIGKILL, and requires the job to
# end non-zero within KILL_SECONDS.
descendants() {
    local child
    for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done
}
kill_one_rank() {
    local what=$1 wait_for=$2 delay=$3 k=$4; shift 4
    # shellcheck disable=SC2086  # the flags are words
    mpirun $MPIRUN_FLAGS -np "$k" "$@" >"$work/kill.log" 2>&1 &
    local job=$! waited=0 victim status=0 t0
    until [ -e "$wait_for" ]; do
        sleep 0.2; waited=$((waited + 1))
        if [ $waited -gt 600 ] || ! kill -0 $job 2>/dev/null; then
            echo "check_mpi: $what: the job ended, or made no $wait_for within 120 s:"
            cat "$work/kill.log"; kill -KILL $job 2>/dev/null || true; return 1
        fi
    done
    sleep "$delay"
    # a rank: the last process under this mpirun (its child, or deeper with a launcher daemon)
    # that runs PROGRAM
    victim=$(for pid in $(descendants $job); do
                 tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | grep -q "^$1 " && echo "$pid"
             done | tail -1)
    [ -n "$victim" ] || { echo "check_mpi: $what: no rank process under mpirun $job"; return 1; }
    t0=$(date +%s)
    kill -KILL "$victim"
    while kill -0 $job 2>/dev/null; do
        if [ $(( $(date +%s) - t0 )) -gt "$KILL_SECONDS" ]; then
            echo "check_mpi: $what: the job still runs $KILL_SECONDS s after a rank was killed"
            kill -KILL $job 2>/dev/null || true; wait $job 2>/dev/null || true; return 1
        fi
        sleep 0.2
    done
    wait $job || status=$?
    if [ $status = 0 ]; then
        echo "check_mpi: $what: the job exited 0 after a rank was killed"; return 1
    fi
    echo "check_mpi: $what: the job ended with exit $status within $(since "$t0")"
}

echo "check_mpi: == make MPI=1 (in a copy of the tree)"
t=$(date +%s)
copy "$work/mpi"
make -C "$work/mpi" -j2 MPI=1 WERROR=1 simclr tests/mpi/test_ranks >"$work/build-mpi.log" 2>&1 ||
    { tail -40 "$work/build-mpi.log"; exit 1; }
echo "check_mpi: built with $(mpicc --showme:command 2>/dev/null || echo mpicc) ($(since "$t"))"

echo "check_mpi: == the engine: tests/mpi/test_ranks"
t=$(date +%s)
for k in 1 2 4; do
    run_ranks $k "$work/mpi/tests/mpi/test_ranks"
done
if run_ranks 3 "$work/mpi/tests/mpi/test_ranks" >"$work/three.log" 2>&1; then
    echo "check_mpi: 3 ranks were not refused"; cat "$work/three.log"; exit 1
fi
grep -q 'power of two' "$work/three.log" ||
    { echo "check_mpi: 3 ranks refused without the reason:"; cat "$work/three.log"; exit 1; }
reason=$(grep -o 'MPI: 3 processes[^(]*' "$work/three.log" | head -1 | sed 's/ *$//')
echo "check_mpi: 3 ranks refused: $reason"
status=0
run_ranks 4 "$work/mpi/tests/mpi/test_ranks" --abort >"$work/abort.log" 2>&1 || status=$?
if [ $status != 3 ]; then
    echo "check_mpi: ranks_mpi_abort(…, 3) ended the job with $status"; cat "$work/abort.log"; exit 1
fi
echo "check_mpi: ranks_mpi_abort on rank 3 of 4 ended the job (exit 3)"
status=0
run_ranks 2 "$work/mpi/tests/mpi/test_ranks" --mpi-error >"$work/error.log" 2>&1 || status=$?
if [ $status = 0 ] || ! grep -q '^simclr: rank 0: MPI error: ' "$work/error.log"; then
    echo "check_mpi: an MPI error on rank 0 (exit $status) was not reported as such:"
    cat "$work/error.log"; exit 1
fi
reason=$(grep -m1 '^simclr: rank 0: MPI error' "$work/error.log")
echo "check_mpi: an MPI error ended the job (exit $status): $reason"
kill_one_rank "a rank of 4 killed mid-sum" "$work/mpi/tests/mpi/test_ranks" 1 \
    4 "$work/mpi/tests/mpi/test_ranks" --loop 60
echo "check_mpi: the engine passed ($(since "$t"))"

# ---- training: K ranks against one process, bit for bit ----
if [ "$TRAINING" = 1 ]; then
    echo "check_mpi: == make (no MPI, the same compiler) and make MPI=1 OPENMP=0 (in copies)"
    t=$(date +%s)
    compiler=$(mpicc --showme:command 2>/dev/null || echo cc)
    copy "$work/plain"
    copy "$work/mpi-noomp"
    make -C "$work/plain" -j2 CC="$compiler" WERROR=1 simclr >"$work/build-plain.log" 2>&1 ||
        { tail -40 "$work/build-plain.log"; exit 1; }
    make -C "$work/mpi-noomp" -j2 MPI=1 OPENMP=0 WERROR=1 simclr >"$work/build-noomp.log" 2>&1 ||
        { tail -40 "$work/build-noomp.log"; exit 1; }
    echo "check_mpi: built ($(since "$t"))"

    # G = 4 shards of 4 images (a batch of 16), so K = 1, 2, 4 all divide it
    args="--data builtin:shapes --limit 64 --arch resnet18 --width 0.0625 --hidden 16 --out-dim 8
          --batch 16 --shards 4 --epochs 2 --seed 3"
    # log.csv without its views_per_second column (a timing)
    losses() {
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "views_per_second") skip = i }
                 { line = ""; for (i = 1; i <= NF; i++) if (i != skip) line = line $i ","
                   print line }' "$1/log.csv"
    }
    # The two checkpoints byte for byte (header, settings, every tensor) but for the tensor
    # log.views_per_second (timings, kept with the run's log).
    same_checkpoint() {
        /usr/bin/python3 - "$1" "$2" <<'PYTHON'
import json, struct, sys
def read(path):
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    return data, size, json.loads(data[8:8 + size])
(a, size_a, header_a), (b, size_b, header_b) = read(sys.argv[1]), read(sys.argv[2])
different = [] if header_a == header_b and size_a == size_b else ["the header"]
for name, entry in header_a.items():
    if name in ("__metadata__", "log.views_per_second") or different:
        continue
    start, end = (8 + size_a + offset for offset in entry["data_offsets"])
    if a[start:end] != b[start:end]:
        different.append(name)
if different:
    print("check_mpi: different: " + ", ".join(different[:10]))
sys.exit(1 if different else 0)
PYTHON
    }
    same_as_single() { # DIR WHAT [THE ONE PROCESS'S DIR]
        local single=${3:-$work/runs/single}
        if ! diff <(losses "$single") <(losses "$1") >"$work/diff.log"; then
            echo "check_mpi: $2: the losses differ from one process's:"
            head -20 "$work/diff.log"; exit 1
        fi
        if ! same_checkpoint "$single/checkpoint.safetensors" "$1/checkpoint.safetensors"; then
            echo "check_mpi: $2: the checkpoint differs from one process's"; exit 1
        fi
        echo "check_mpi: $2: the same $(losses "$1" | tail -n +2 | wc -l) losses and checkpoint" \
             "bytes as one process ($(since "$t"))"
    }

    echo "check_mpi: == training: 1, 2 and 4 ranks against one process"
    t=$(date +%s)
    # shellcheck disable=SC2086  # $args are words
    "$work/plain/simclr" train $args --threads 2 --out "$work/runs/single" >/dev/null \
        2>"$work/single.log" || { cat "$work/single.log"; exit 1; }
    echo "check_mpi: one process (no MPI in the build) trained ($(since "$t"))"
    for k in 1 2 4; do
        t=$(date +%s)
        # shellcheck disable=SC2086
        run_ranks $k "$work/mpi/simclr" train $args --threads $(( k == 1 ? 2 : 1 )) \
            --out "$work/runs/ranks-$k" >/dev/null 2>"$work/ranks-$k.log" ||
            { tail -20 "$work/ranks-$k.log"; exit 1; }
        same_as_single "$work/runs/ranks-$k" "$k rank$([ $k = 1 ] || echo s)"
    done
    t=$(date +%s)
    # shellcheck disable=SC2086
    run_ranks 2 "$work/mpi-noomp/simclr" train $args --out "$work/runs/noomp-2" >/dev/null \
        2>"$work/noomp-2.log" || { tail -20 "$work/noomp-2.log"; exit 1; }
    same_as_single "$work/runs/noomp-2" "2 ranks, OPENMP=0"

    echo "check_mpi: == the views as two batches (--views-forward separate): 4 ranks"
    t=$(date +%s)
    # shellcheck disable=SC2086
    "$work/plain/simclr" train $args --views-forward separate --threads 2 \
        --out "$work/runs/single-separate" >/dev/null 2>"$work/single-separate.log" ||
        { cat "$work/single-separate.log"; exit 1; }
    # shellcheck disable=SC2086
    run_ranks 4 "$work/mpi/simclr" train $args --views-forward separate --threads 1 \
        --out "$work/runs/separate-4" >/dev/null 2>"$work/separate-4.log" ||
        { tail -20 "$work/separate-4.log"; exit 1; }
    same_as_single "$work/runs/separate-4" "4 ranks, separate views" "$work/runs/single-separate"

    echo "check_mpi: == ranks that cannot agree"
    # expect_job_fails WHAT TEXT MPIRUN-ARGS...: the job ends non-zero within KILL_SECONDS
    # and says TEXT
    expect_job_fails() {
        local what=$1 text=$2 status=0
        shift 2
        t=$(date +%s)
        timeout $(( KILL_SECONDS + 10 )) mpirun $MPIRUN_FLAGS "$@" >/dev/null 2>"$work/fail.log" ||
            status=$?
        if [ $status = 0 ] || [ $status = 124 ] || ! grep -q -- "$text" "$work/fail.log" ||
           [ $(( $(date +%s) - t )) -gt "$KILL_SECONDS" ]; then
            echo "check_mpi: $what: expected a failure saying '$text' within $KILL_SECONDS s" \
                 "(exit $status):"; tail -20 "$work/fail.log"; exit 1
        fi
        echo "check_mpi: $what: exit $status within $(since "$t"): $(grep -m1 -- "$text" "$work/fail.log")"
    }
    # shellcheck disable=SC2086
    expect_job_fails "rank 1's data missing" "rank 1: " \
        -np 1 "$work/mpi/simclr" train $args --threads 1 --out "$work/runs/fail-a" : \
        -np 1 "$work/mpi/simclr" train ${args/builtin:shapes/$work/no-such-folder} --threads 1 \
            --out "$work/runs/fail-a"
    # shellcheck disable=SC2086
    expect_job_fails "rank 1 with other images" "differs from the other ranks" \
        -np 1 "$work/mpi/simclr" train $args --threads 1 --out "$work/runs/fail-b" : \
        -np 1 "$work/mpi/simclr" train ${args/--limit 64/--limit 80} --threads 1 \
            --out "$work/runs/fail-b"
    # shellcheck disable=SC2086
    expect_job_fails "8 ranks for 4 shards" "ranks need --shards" \
        -np 8 "$work/mpi/simclr" train $args --threads 1 --out "$work/runs/fail-c"

    echo "check_mpi: == an epoch with 2 ranks, resumed with 4"
    t=$(date +%s)
    # shellcheck disable=SC2086
    run_ranks 2 "$work/mpi/simclr" train $args --threads 1 --stop-after 1 --out "$work/runs/resume" \
        >/dev/null 2>"$work/resume-a.log" || { tail -20 "$work/resume-a.log"; exit 1; }
    run_ranks 4 "$work/mpi/simclr" train --resume "$work/runs/resume/checkpoint.safetensors" \
        --threads 1 >/dev/null 2>"$work/resume-b.log" || { tail -20 "$work/resume-b.log"; exit 1; }
    same_as_single "$work/runs/resume" "2 ranks, then 4 from the checkpoint"

    echo "check_mpi: == a rank of 2 killed with SIGKILL mid-run"
    ckpt="$work/runs/kill/checkpoint.safetensors"
    # shellcheck disable=SC2086
    kill_one_rank "a rank of 2 killed after the first checkpoint" "$ckpt" 0.7 2 "$work/mpi/simclr" \
        train ${args/--epochs 2/--epochs 50} --threads 1 --out "$work/runs/kill"
    if ! "$work/plain/simclr" eval --checkpoint "$ckpt" --probe knn --train-limit 64 --test-limit 32 \
            >/dev/null 2>"$work/eval.log"; then
        echo "check_mpi: the last checkpoint does not load:"; cat "$work/eval.log"; exit 1
    fi
    # mpirun may return before its ranks are reaped: the lock's owner (rank 0) must be gone
    # within KILL_SECONDS, or it would be an orphan rank
    owner=$(tr -dc 0-9 < "$work/runs/kill/.lock" 2>/dev/null || true)
    t0=$(date +%s)
    while [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; do
        if [ $(( $(date +%s) - t0 )) -gt "$KILL_SECONDS" ]; then
            echo "check_mpi: rank 0 (process $owner) still runs $KILL_SECONDS s after the job ended"
            kill -KILL "$owner" 2>/dev/null || true; exit 1
        fi
        sleep 0.2
    done
    epoch=$(grep -ao '"epoch":"[0-9]*"' "$ckpt" | head -1 | tr -dc 0-9)
    if ! run_ranks 2 "$work/mpi/simclr" train --resume "$ckpt" --threads 1 --stop-after 1 \
            >/dev/null 2>"$work/kill-resume.log"; then
        echo "check_mpi: the resume after the kill failed:"; tail -20 "$work/kill-resume.log"; exit 1
    fi
    echo "check_mpi: the checkpoint of epoch $epoch loads (simclr eval) and resumes with 2 ranks"
fi
echo "check_mpi: passed ($(since "$started") in all)"
