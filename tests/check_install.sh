#!/usr/bin/env bash
# tests/check_install.sh — the library as a user installs it: `make install` into a temporary
# prefix, then tests/embed_example.c compiled and linked with nothing but
# `pkg-config --cflags --libs simclr`, run on the encoder of a tiny training run (from the
# checkpoint and from `simclr export`'s file), and checked bit for bit against `simclr embed`.
# Run by `make test` after the Criterion suite (it uses the ./simclr that make test built, and
# the CC, CFLAGS and LDFLAGS make was given).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pkg-config >/dev/null || { echo "check_install: pkg-config is missing" >&2; exit 1; }
work=$(mktemp -d /tmp/simclr-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
${MAKE:-make} -s install PREFIX="$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046  # the flags are words
# (CFLAGS and LDFLAGS: those the library was built with, e.g. make check-sanitize's)
${CC:-cc} -std=c99 ${CFLAGS:-} tests/embed_example.c $(pkg-config --cflags --libs simclr) \
    ${LDFLAGS:-} -o "$work/embed_example"
# a dataset of 12 small PPM images in two class folders (quick to embed whole)
for i in $(seq 1 12); do
    mkdir -p "$work/images/class$((i % 2))"
    { printf 'P6\n32 32\n255\n'; head -c 3072 /dev/zero | tr '\0' "$(printf "\\$(printf '%03o' $((40 + 7 * i)))")"; } \
        > "$work/images/class$((i % 2))/image$i.ppm"
done
./simclr train --data "$work/images" --batch 4 --width 0.0625 --hidden 16 --out-dim 8 \
    --epochs 1 --out "$work/run" >/dev/null 2>&1
./simclr embed --checkpoint "$work/run/checkpoint.safetensors" \
    --out "$work/features.safetensors" >/dev/null 2>&1
./simclr export --checkpoint "$work/run/checkpoint.safetensors" \
    --out "$work/encoder.safetensors" >/dev/null
"$work/embed_example" "$work/run/checkpoint.safetensors" "$work/features.safetensors"
"$work/embed_example" "$work/encoder.safetensors" "$work/features.safetensors"
echo "check_install: the example built from the installed library matches simclr embed (checkpoint and export)"
