#!/usr/bin/env bash
# tests/check_reference.sh — the fast paths against the naive definitions, through the reference
# outputs of every op (simclr golden).
#
#   bash tests/check_reference.sh            (about a minute on 2 cores)
#
# Two builds, each in its own copy of the tracked files as they are in the working tree:
#   fast        the default build (im2col and Winograd convolutions, packed GEMM)
#   reference   make REFERENCE=1: every convolution by its direct loops (conv2d_forward_naive,
#               conv2d_backward_naive) and every GEMM by the triple loop (gemm_naive)
# both with warnings as errors. Each writes `simclr golden`; the two sets are compared tensor by
# tensor with tests/compare_references.py (normwise relative: max|a − b| / max|a|) at the
# tolerances of the PyTorch cross-check (tests/crosscheck_torch.py):
#   every single-op case (layers, NT-Xent, augmentations)   1e-5
#   the whole networks: resnet*, train_step* and end_to_end*  1e-4
# The three-step cases (train_steps*) are left out: float32 training of their small networks
# amplifies rounding ~10x per step, so the two builds' third steps part by up to 1e-1, and each
# build picks its own views (those keeping the ReLU margin on its own trajectory);
# tests/crosscheck_torch.py checks each of their steps from the stored state instead.
# (a deep network's outputs and one training step's updates pass many roundings; measured
# differences are about 2e-6 for the single ops and 3e-5 for train_step).
# Exit status 1 on any difference beyond them, or a failed build. CASES="conv2d,ntxent,..."
# limits both sets to those ops (simclr golden --cases); KEEP=1 keeps the scratch folder;
# JOBS sets make's -j (default 2); PYTHON the python3 with numpy (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
JOBS=${JOBS:-2}
work=$(mktemp -d /tmp/simclr-reference.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
start=$(date +%s)

for build in fast reference; do
    mkdir -p "$work/$build/src"
    git ls-files -z | xargs -0 tar cf - | tar xf - -C "$work/$build/src"
    reference=0
    [ "$build" = reference ] && reference=1
    if ! make -C "$work/$build/src" -j"$JOBS" REFERENCE=$reference WERROR=1 simclr \
            > "$work/$build/build.log" 2>&1; then
        echo "reference: the $build build failed:"
        tail -20 "$work/$build/build.log"
        exit 1
    fi
    "$work/$build/src/simclr" golden --out "$work/$build/golden" ${CASES:+--cases "$CASES"} \
        > "$work/$build/golden.log" 2>&1 || {
        echo "reference: simclr golden failed in the $build build:"
        tail -5 "$work/$build/golden.log"
        exit 1
    }
    # the single-op cases and the whole networks, apart, for their two tolerances
    mkdir -p "$work/$build/ops" "$work/$build/networks"
    for file in "$work/$build/golden"/*.safetensors; do
        case $(basename "$file") in
            train_steps*) ;; # three steps: each build follows (and picks) its own trajectory
            resnet*|train_step*|end_to_end*) ln -s "$file" "$work/$build/networks/" ;;
            *) ln -s "$file" "$work/$build/ops/" ;;
        esac
    done
done

status=0
compare() { # compare GROUP RTOL
    if [ -z "$(ls "$work/fast/$1")" ]; then
        echo "reference: no $1 cases in this selection"
        return 0
    fi
    echo "reference: $1 at $2 relative:"
    "$PYTHON" tests/compare_references.py "$work/fast/$1" "$work/reference/$1" --rtol "$2" ||
        status=1
}
compare ops 1e-5
compare networks 1e-4
if [ $status = 0 ]; then
    echo "reference: the fast build agrees with the naive definitions ($(( $(date +%s) - start )) s)"
else
    echo "reference: the fast build DISAGREES with the naive definitions (see above)"
fi
exit $status
