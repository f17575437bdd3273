#!/usr/bin/env bash
# tests/check_cortex_m.sh — the library on Cortex-M microcontrollers (make check-cortex-m; the
# cortex-m4 and cortex-m33 rows of make check-portable): the harness tests/cortex_m/harness.c
# built with arm-none-eabi-gcc and picolibc for
#   m4    Cortex-M4 (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16), qemu-system-arm -M mps2-an386
#   m33   Cortex-M33 (-mcpu=cortex-m33 -mfpu=fpv5-sp-d16), qemu-system-arm -M mps2-an505
# both with single-precision hard float, and run with semihosting; and the same harness built for
# this machine (gcc, PORTABLE=1: no contraction, no -march). The outputs must be the same bytes
# (the lines starting with '#', times and memory, aside): the reference cases, three training
# losses and an embedding. The x86-64 output is made in the same run, never stored.
#
#   bash tests/check_cortex_m.sh [m4] [m33]      (default both; KEEP=1 keeps the work folder)
#
# Steps: the program (x86-64, PORTABLE=1) trains a tiny encoder for one step and exports it
# (simclr export); tests/cortex_m/bytes_to_c.py turns the file into encoder_file.h; the library
# is built with FILES=0 (no file system) and the static arena of tests/cortex_m/arena.h as its
# allocator, for x86-64 and for each board; the harness is linked against it and run. The
# harness's digests of the reference cases are also checked against the files `simclr golden`
# writes. Prints, per board: the verdict, the harness's code size (text, data, bss), the arena's
# high-water mark and the time per training step under qemu (emulated time on this machine,
# not the microcontroller's). Packages are installed when missing and the script runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
BOARDS=${*:-"m4 m33"}
work=$(mktemp -d /tmp/simclr-cortex-m.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
PYTHON=${PYTHON:-/usr/bin/python3}

NEED_WHO=cortex-m
. tests/need.sh
need arm-none-eabi-gcc gcc-arm-none-eabi
need /usr/lib/picolibc/arm-none-eabi/picolibc.specs picolibc-arm-none-eabi
need qemu-system-arm qemu-system-arm

SMALL_CASES=$(grep -v '^#' tests/small_cases.txt)
# The arena as the library's allocator (nn/memory.h's hook): for the compiler, and for make,
# which hands CFLAGS to the shell again (so the quotes escaped once more)
ARENA_FLAGS='-DSIMCLR_ALLOCATOR_HEADER="tests/cortex_m/arena.h"'
MAKE_ARENA_FLAGS='-DSIMCLR_ALLOCATOR_HEADER=\"tests/cortex_m/arena.h\"'

copy_tree() { # copy_tree DIR: the tracked files and any new ones not ignored
    mkdir -p "$1"
    git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - 2>/dev/null |
        tar xf - -C "$1"
}

# The reference: x86-64, PORTABLE=1, without OpenMP (the arena is not thread-safe).
start=$(date +%s)
copy_tree "$work/x86"
(   # (a list joined by &&: set -e does not act inside a subshell tested with ||)
    cd "$work/x86" &&
    make -j2 CC=gcc PORTABLE=1 OPENMP=0 WERROR=1 simclr >"$work/x86-program.log" 2>&1 &&
    ./simclr train --data builtin:shapes --limit 16 --batch 16 --width 0.0625 --hidden 16 \
        --out-dim 8 --epochs 1 --out "$work/run" >"$work/x86-train.log" 2>&1 &&
    ./simclr export --checkpoint "$work/run/checkpoint.safetensors" \
        --out "$work/encoder.safetensors" >>"$work/x86-train.log" 2>&1 &&
    mkdir -p "$work/golden" &&
    ./simclr golden --out "$work/golden" --cases "$SMALL_CASES" >"$work/x86-golden.log" 2>&1 &&
    "$PYTHON" tests/cortex_m/bytes_to_c.py "$work/encoder.safetensors" encoder_file \
        >"$work/encoder_file.h" &&
    make -j2 CC=gcc PORTABLE=1 OPENMP=0 WERROR=1 FILES=0 CFLAGS="$MAKE_ARENA_FLAGS" libsimclr.a \
        >"$work/x86-library.log" 2>&1 &&
    gcc -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla -Werror -O3 \
        -ffp-contract=off -I. -I"$work" "$ARENA_FLAGS" -DHARNESS_CASES="\"$SMALL_CASES\"" \
        tests/cortex_m/harness.c \
        tests/cortex_m/arena.c libsimclr.a -lm -o "$work/harness-x86" >"$work/x86-link.log" 2>&1
) || { echo "cortex-m: the x86-64 reference failed to build or run; the end of its logs:";
       tail -n 5 "$work"/x86-*.log; exit 1; }
"$work/harness-x86" >"$work/x86.out" || true
grep -q '^harness: done' "$work/x86.out" || { tail -3 "$work/x86.out"; exit 1; }
# a training step allocates nothing (simclr_allocation_count before and after each step)
[ "$(grep -c '^step .* step 0$' "$work/x86.out")" = 3 ] ||
    { echo "cortex-m: a training step allocated:"; grep '^step ' "$work/x86.out"; exit 1; }
echo "cortex-m: x86-64 reference made in $(( $(date +%s) - start )) s"

# The harness's digests of the cases against the files simclr golden wrote. Where the machine
# has Fashion-MNIST (/usr/share/datasets/fashion-mnist), the program also writes view cases of
# its images, which a harness without files cannot read: those, and README.txt, which lists
# them, are the only files allowed to differ.
"$PYTHON" - "$work/golden" "$work/x86.out" <<'PY'
import os, sys
folder, out = sys.argv[1], sys.argv[2]
def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h
cases = {l.split()[1]: l.split()[3] for l in open(out) if l.startswith("case ")}
cases.pop("README.txt", None)
files = set(f for f in os.listdir(folder) if f != "README.txt")
bad = [n for n in cases if n not in files or
       fnv1a64(open(os.path.join(folder, n), "rb").read()) != cases[n]]
bad += [f for f in files - set(cases) if not f.startswith("view_fashion_mnist")]
if bad:
    sys.exit("cortex-m: the harness's cases are not the bytes simclr golden writes: %s" % bad[:3])
print("cortex-m: the harness's %d case digests are those of simclr golden's files" % len(cases))
PY

failures=0
for board in $BOARDS; do
    case $board in
        m4)  cpu=cortex-m4  fpu=fpv4-sp-d16 machine=mps2-an386 flash=0x00000000 ram=0x21000000 ;;
        m33) cpu=cortex-m33 fpu=fpv5-sp-d16 machine=mps2-an505 flash=0x10000000 ram=0x80000000 ;;
        *) echo "cortex-m: unknown board $board (m4, m33)" >&2; exit 2 ;;
    esac
    start=$(date +%s)
    # -fno-short-enums: the bare-metal ABI's default sizes an enum by its values, but the
    # library's table of settings stores its enums as int (data/run_settings.c checks it); no
    # enum crosses into picolibc, so the linker's note on the mix is silenced
    target="-mcpu=$cpu -mthumb -mfloat-abi=hard -mfpu=$fpu -fno-short-enums"
    copy_tree "$work/$board"
    # 4 MiB of code memory (SSRAM1), 16 MiB of data memory (PSRAM): the arena, data and stack
    memory="-Wl,--defsym=__flash=$flash -Wl,--defsym=__flash_size=0x400000"
    memory="$memory -Wl,--defsym=__ram=$ram -Wl,--defsym=__ram_size=0x1000000"
    if ! (
        cd "$work/$board"
        make -j2 CC=arm-none-eabi-gcc AR=arm-none-eabi-ar PORTABLE=1 OPENMP=0 WERROR=1 FILES=0 \
            CFLAGS="--specs=picolibc.specs $target -ffunction-sections -fdata-sections \
                    $MAKE_ARENA_FLAGS" libsimclr.a >"$work/$board-library.log" 2>&1 &&
        arm-none-eabi-gcc --specs=picolibc.specs --oslib=semihost --crt0=semihost $target \
            -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wvla -Werror -O3 \
            -ffp-contract=off -ffunction-sections -fdata-sections -I. -I"$work" "$ARENA_FLAGS" \
            -DHARNESS_CASES="\"$SMALL_CASES\"" \
            tests/cortex_m/harness.c tests/cortex_m/arena.c libsimclr.a -lm \
            -Wl,--gc-sections -Wl,--no-enum-size-warning $memory -o "$work/harness-$board.elf" \
            >"$work/$board-link.log" 2>&1
    ); then
        echo "cortex-m: $board: the build failed; the end of its logs:"
        tail -n 5 "$work/$board"-*.log
        failures=$((failures + 1))
        continue
    fi
    # No file system call reached the program.
    files_used=$(arm-none-eabi-nm "$work/harness-$board.elf" |
                 awk '$3 ~ /^(fopen|fdopen|open|rename|remove|unlink|mkdir|opendir|stat)$/ {
                          print $3 }' |
                 tr '\n' ' ')
    run_start=$(date +%s)
    timeout 600 qemu-system-arm -M $machine -cpu $cpu -nographic -monitor none -serial none \
        -chardev file,id=semihosting,path="$work/$board.out" \
        -semihosting-config enable=on,target=native,chardev=semihosting \
        -kernel "$work/harness-$board.elf" >"$work/$board.err" 2>&1 || true
    run_seconds=$(( $(date +%s) - run_start ))
    size=$(arm-none-eabi-size "$work/harness-$board.elf" |
           awk 'NR == 2 { printf "text %d, data %d, bss %d bytes", $1, $2, $3 }')
    if diff <(grep -v '^#' "$work/x86.out") <(grep -v '^#' "$work/$board.out") \
           >"$work/$board.diff" && [ -z "$files_used" ]; then
        verdict="bit for bit: $(grep -c '^case ' "$work/$board.out") case digests,"
        verdict="$verdict $(grep -c '^step ' "$work/$board.out") losses,"
        verdict="$verdict $(grep -c '^h\[' "$work/$board.out") features"
    else
        verdict="DIFFERENT from x86-64${files_used:+ (file calls linked: $files_used)}"
        head -5 "$work/$board.diff"
        tail -3 "$work/$board.err" 2>/dev/null
        failures=$((failures + 1))
    fi
    echo "cortex-m: $board ($cpu on $machine): $verdict"
    arena=$(sed -n 's/^# arena: \([0-9]*\) bytes at most.*/arena high-water \1 bytes/p' \
            "$work/$board.out")
    step=$(sed -n 's/^# train: \([0-9.]*\) s per step.*/\1 s per training step (qemu)/p' \
           "$work/$board.out")
    echo "cortex-m: $board: $size; $arena; $step; qemu ran ${run_seconds} s;" \
         "row $(( $(date +%s) - start )) s"
done
exit $((failures > 0))
