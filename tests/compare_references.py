#!/usr/bin/env python3
"""Compare two folders of simclr-c reference outputs (simclr golden), tensor by tensor.

    python3 tests/compare_references.py REFERENCE OTHER [--rtol 1e-5] [--skip PREFIX[,PREFIX...]]

For the portability matrix: the references one platform wrote (s390x, armhf, 32-bit x86, tcc)
against those of x86-64. Every file and tensor of REFERENCE must be in OTHER with the same shape
and dtype, and within the relative tolerance (normwise per tensor: max|a - b| / max|a|; integer
tensors exactly). Prints the worst case and exits 1 on any difference beyond it. Needs numpy
only; its read_safetensors is also the reader behind tests/crosscheck_torch.py.
--skip PREFIX leaves out the files whose names start with PREFIX, or with any of a comma-separated
list of them (tests/check_portable.sh: the cases that train a network, train_step* and
end_to_end*, between the fast profile, whose fused multiply-adds round differently, and the
portable one).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "I64": "<i8", "F64": "<f8", "I32": "<i4"}


# Metadata that is a measurement of the case's own numbers, not a convention: the smallest ReLU
# input relative to its layer's scale (dimensionless), which moves by about rtol when the
# layer's values do by rtol relative: compared within rtol absolute. Every other key must be the
# same text.
MEASURED_METADATA = ("relu_margin",)


def same_metadata(a, b, rtol):
    if sorted(a) != sorted(b):
        return False
    for key in a:
        if key in MEASURED_METADATA:
            x, y = float(a[key]), float(b[key])
            if abs(x - y) > rtol:
                return False
        elif a[key] != b[key]:
            return False
    return True


def read_safetensors(path):
    """The tensors of a safetensors file as numpy arrays (little-endian, read-only views of the
    file's bytes), and its metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(raw[8 + n + begin:8 + n + end],
                                      np.dtype(DTYPES[info["dtype"]])).reshape(info["shape"])
    return tensors, metadata


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference")
    parser.add_argument("other")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--skip", default=None, help="leave out files starting with this")
    args = parser.parse_args(argv)
    reference, other, rtol, skip = args.reference, args.other, args.rtol, args.skip
    files = sorted(f for f in os.listdir(reference)
                   if f.endswith(".safetensors") and not (skip and f.startswith(tuple(skip.split(",")))))
    failures, worst = 0, (0.0, "")
    for name in files:
        path = os.path.join(other, name)
        if not os.path.exists(path):
            print(f"FAIL {name}: missing in {other}")
            failures += 1
            continue
        a, meta_a = read_safetensors(os.path.join(reference, name))
        b, meta_b = read_safetensors(path)
        if not same_metadata(meta_a, meta_b, rtol) or sorted(a) != sorted(b):
            print(f"FAIL {name}: different metadata or tensor names")
            failures += 1
            continue
        for key in a:
            x, y = a[key], b[key]
            if x.shape != y.shape or x.dtype != y.dtype:
                print(f"FAIL {name} {key}: shape or dtype differs")
                failures += 1
                continue
            if x.dtype.kind == "i":
                error = 0.0 if np.array_equal(x, y) else float("inf")
            else:
                x64, y64 = x.astype(np.float64), y.astype(np.float64)
                scale = np.abs(x64).max() if x64.size else 0.0
                diff = np.abs(x64 - y64).max() if x64.size else 0.0
                error = diff / scale if scale > 0 else diff
            if error > worst[0]:
                worst = (error, f"{name} {key}")
            if not error <= rtol:
                print(f"FAIL {name} {key}: relative difference {error:.2e} > {rtol:.0e}")
                failures += 1
    print(f"{len(files)} files compared with {other}: {failures} failures; largest relative "
          f"difference {worst[0]:.2e} ({worst[1]})")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
