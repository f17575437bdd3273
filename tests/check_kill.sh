#!/usr/bin/env bash
# tests/check_kill.sh — interrupted runs never leave a corrupt checkpoint (make check-kill).
#
# Starts `simclr train` on a tiny model, kills it with SIGKILL after a random delay (0.1 to
# 2.5 s, so kills land in steps, in checkpoint writes and between), KILLS times (default 20);
# the first run only once it has written its first checkpoint, however slow the machine.
# After every kill the checkpoint in the folder — if one was written yet — must read back as a
# whole checkpoint (simclr eval loads it), no temporary file may be mistaken for it, and
# `--resume` from it must run, taking over the lock (run/.lock) the killed run left. At the end
# the resumed run must finish all its epochs and remove its lock.
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-20}
work=$(mktemp -d /tmp/simclr-kill.XXXXXX)
trap 'rm -rf "$work"' EXIT
args="--data builtin:shapes --limit 192 --batch 16 --width 0.0625 --hidden 16 --out-dim 8 --epochs 12 --out $work/run --threads 2"
ckpt="$work/run/checkpoint.safetensors"
checked=0
HANG_SECONDS=${HANG_SECONDS:-600}
for i in $(seq 1 "$KILLS"); do
    if [ -f "$ckpt" ]; then
        ./simclr train --resume "$ckpt" --out "$work/run" --threads 2 >/dev/null 2>&1 &
    else
        ./simclr train $args >/dev/null 2>&1 &
    fi
    pid=$!
    # the first run is killed only after its first checkpoint (however slow the machine is:
    # up to HANG_SECONDS), so that every later kill has a checkpoint to damage
    waited=0
    while [ ! -f "$ckpt" ] && kill -0 "$pid" 2>/dev/null; do
        [ "$waited" -lt $(( HANG_SECONDS * 10 )) ] ||
            { echo "kill $i: no checkpoint after $HANG_SECONDS s"; kill -KILL "$pid"; exit 1; }
        sleep 0.1
        waited=$((waited + 1))
    done
    sleep "$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.2f", 0.1 + 2.4 * rand() }')"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -f "$ckpt" ]; then
        if ! ./simclr eval --checkpoint "$ckpt" --probe knn --train-limit 64 --test-limit 32 \
                 >/dev/null 2>"$work/eval.err"; then
            echo "kill $i: the checkpoint does not load:"; cat "$work/eval.err"; exit 1
        fi
        checked=$((checked + 1))
        epoch=$(grep -ao '"epoch":"[0-9]*"' "$ckpt" | head -1 | tr -dc 0-9)
        echo "kill $i: checkpoint of epoch $epoch loads"
    else
        echo "kill $i: no checkpoint yet"
    fi
done
# finish the run from the last checkpoint
./simclr train --resume "$ckpt" --out "$work/run" --threads 2 > "$work/final.out" 2>/dev/null
cat "$work/final.out"
grep -q 'for 12 of 12 epochs' "$work/final.out"
if [ -e "$work/run/.lock" ]; then echo "the finished run left its lock behind"; exit 1; fi
echo "check-kill: $KILLS kills, $checked checkpoints checked, all loadable; the run resumed to the end"
