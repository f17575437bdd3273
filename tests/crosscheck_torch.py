#!/usr/bin/env python3
"""Verify simclr-c's reference outputs (simclr golden --out DIR) against PyTorch / torchvision.

    python3 tests/crosscheck_torch.py DIR              check every case in DIR
    python3 tests/crosscheck_torch.py --self-test DIR  also show that a changed value is caught

Each case file (safetensors; DIR/README.txt states every op's conventions) holds the inputs,
the op's parameters in its metadata, and simclr-c's outputs. A train_step case's metadata key
views_forward says how the two views went through the network: "joint" (one batch of 2N, as
the official code; also when the key is absent) or "separate" (z0 = model(view0),
z1 = model(view1), as LightlySSL's examples). This script recomputes every case with torch.nn.functional
(autograd for the gradients: of L = sum(y * dy), or of the loss itself for ntxent and
train_step), torchvision.transforms.functional (antialias=True for resize) and
torchvision.models.resnet18, and prints one line per case with the largest absolute and
relative error. The relative error of a tensor is normwise: max|ours - torch| / max|torch|.
Tolerances (exit status 1 on any case beyond them, or on a missing op):
    forward values 1e-5 relative, whole networks 1e-4 relative, gradients 1e-4 relative,
    augmentation outputs 1e-5 absolute.
Needs only Debian's python3-torchvision (PyTorch 1.13, torchvision 0.14) and numpy; it is an
example for users and a check for the project, never part of the build.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_references import read_safetensors as read_arrays  # noqa: E402

TOLERANCE = {"forward": (1e-5, "rel"), "network": (1e-4, "rel"), "grad": (1e-4, "rel"),
             "aug": (1e-5, "abs")}
OPS = ["conv2d", "batchnorm2d", "batchnorm1d", "linear", "relu", "maxpool2d", "avgpool", "ntxent",
       "brightness", "contrast", "saturation", "hue", "grayscale", "hflip", "resized_crop",
       "gaussian_blur", "resnet", "train_step"]


def read_safetensors(path):
    """The tensors of a safetensors file as torch tensors, and its metadata (the numpy reader
    of compare_references.py, which needs no PyTorch)."""
    arrays, metadata = read_arrays(path)
    return {name: torch.from_numpy(a.astype(a.dtype.newbyteorder("="))) for name, a in
            arrays.items()}, metadata


def leaf(t):
    """A float32 copy that autograd tracks (PyTorch computes in float32, as we do)."""
    return t.clone().requires_grad_(True)


def check_conv2d(t, m):
    x, w, b = leaf(t["x"]), leaf(t["weight"]), leaf(t["bias"])
    y = F.conv2d(x, w, b, stride=int(m["stride"]), padding=int(m["padding"]))
    (y * t["dy"]).sum().backward()
    return [("y", y, "forward"), ("dx", x.grad, "grad"), ("dweight", w.grad, "grad"),
            ("dbias", b.grad, "grad")]


def check_batchnorm(t, m):
    x, w, b = leaf(t["x"]), leaf(t["weight"]), leaf(t["bias"])
    rm, rv = t["running_mean"].clone(), t["running_var"].clone()
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=float(m["momentum"]),
                     eps=float(m["eps"]))
    (y * t["dy"]).sum().backward()
    return [("y", y, "forward"), ("running_mean_out", rm, "forward"),
            ("running_var_out", rv, "forward"), ("dx", x.grad, "grad"),
            ("dweight", w.grad, "grad"), ("dbias", b.grad, "grad")]


def check_linear(t, m):
    x, w, b = leaf(t["x"]), leaf(t["weight"]), leaf(t["bias"])
    y = F.linear(x, w, b)
    (y * t["dy"]).sum().backward()
    return [("y", y, "forward"), ("dx", x.grad, "grad"), ("dweight", w.grad, "grad"),
            ("dbias", b.grad, "grad")]


def check_unary(function):
    def check(t, m):
        x = leaf(t["x"])
        y = function(x, m)
        (y * t["dy"]).sum().backward()
        return [("y", y, "forward"), ("dx", x.grad, "grad")]
    return check


def ntxent(z0, z1, temperature):
    """NT-Xent (paper Eq. 1; LightlySSL NTXentLoss): the mean over all 2N views."""
    n = z0.shape[0]
    u = F.normalize(torch.cat([z0, z1]), dim=1)
    logits = u @ u.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


def check_ntxent(t, m):
    z0, z1 = leaf(t["z0"]), leaf(t["z1"])
    loss = ntxent(z0, z1, float(m["temperature"]))
    loss.backward()
    return [("loss", loss.reshape(t["loss"].shape), "forward"), ("dz0", z0.grad, "grad"),
            ("dz1", z1.grad, "grad")]


def check_augmentation(t, m):
    img, op = t["img"], m["op"]
    if op == "brightness":
        out = TF.adjust_brightness(img, float(m["factor"]))
    elif op == "contrast":
        out = TF.adjust_contrast(img, float(m["factor"]))
    elif op == "saturation":
        out = TF.adjust_saturation(img, float(m["factor"]))
    elif op == "hue":
        out = TF.adjust_hue(img, float(m["factor"]))
    elif op == "grayscale":
        out = TF.rgb_to_grayscale(img, num_output_channels=int(m["num_output_channels"]))
    elif op == "hflip":
        out = TF.hflip(img)
    elif op == "resized_crop":
        size = int(m["size"])
        out = TF.resized_crop(img, int(m["top"]), int(m["left"]), int(m["height"]),
                              int(m["width"]), [size, size],
                              interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    elif op == "gaussian_blur":
        k, sigma = int(m["kernel_size"]), float(m["sigma"])
        out = TF.gaussian_blur(img, [k, k], [sigma, sigma])
    return [("out", out, "aug")]


def resnet18_encoder(stem):
    """torchvision's resnet18 without fc; the CIFAR stem (paper B.9) when asked."""
    net = torchvision.models.resnet18()
    if stem == "cifar":
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net


def check_resnet(t, m):
    net = resnet18_encoder(m["stem"])
    state = {k: v for k, v in t.items() if k not in ("x", "h")}
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        h = net(t["x"])
    return [("h", h, "network")]


class SimCLRModel(nn.Module):
    """backbone + LightlySSL's SimCLRProjectionHead (2 layers, batch norm), by their names."""

    def __init__(self, stem, hidden, out):
        super().__init__()
        self.backbone = resnet18_encoder(stem)
        self.projection_head = nn.Module()
        self.projection_head.layers = nn.Sequential(
            nn.Linear(512, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, out, bias=False), nn.BatchNorm1d(out))

    def forward(self, x):
        return self.projection_head.layers(self.backbone(x))


def check_train_step(t, m):
    model = SimCLRModel(m["stem"], int(m["hidden"]), int(m["out_dim"]))
    before = {k[len("before."):]: v for k, v in t.items() if k.startswith("before.")}
    model.load_state_dict(before, strict=True)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(m["lr"]),
                                momentum=float(m["momentum"]),
                                weight_decay=float(m["weight_decay"]))
    n = int(m["batch"])
    views_forward = m.get("views_forward", "joint")
    if views_forward == "joint":
        # one batch of 2N, batch-norm statistics over both views (the official code)
        z = model(torch.cat([t["view0"], t["view1"]]))
        z0, z1 = z[:n], z[n:]
    elif views_forward == "separate":
        # two batches of N, each with its own batch-norm statistics; the running statistics
        # are updated twice (LightlySSL's examples: z0 = model(x0); z1 = model(x1))
        z0 = model(t["view0"])
        z1 = model(t["view1"])
    else:
        raise ValueError(f"train_step: unknown views_forward '{views_forward}' "
                         "(joint or separate)")
    loss = ntxent(z0, z1, float(m["temperature"]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    results = [("loss", loss.detach().reshape(t["loss"].shape), "network")]
    after = model.state_dict()
    for name, value in after.items():
        ours = "after." + name
        if value.dtype == torch.int64:
            results.append((ours, value, "forward"))  # num_batches_tracked: exact
        elif name in dict(model.named_parameters()):
            # weights after a step of the whole network; the update w_after - w_before is
            # lr·(gradient + weight decay): a gradient
            results.append((ours, value, "network"))
            results.append((ours + " - before", value - before[name], "grad"))
        else:
            results.append((ours, value, "network"))  # running statistics
    return results


CHECKS = {"conv2d": check_conv2d, "batchnorm2d": check_batchnorm, "batchnorm1d": check_batchnorm,
          "linear": check_linear,
          "relu": check_unary(lambda x, m: F.relu(x)),
          "maxpool2d": check_unary(lambda x, m: F.max_pool2d(
              x, int(m["kernel"]), int(m["stride"]), int(m["padding"]))),
          "avgpool": check_unary(lambda x, m: F.adaptive_avg_pool2d(x, 1).flatten(1)),
          "ntxent": check_ntxent, "resnet": check_resnet, "train_step": check_train_step}
for op in ["brightness", "contrast", "saturation", "hue", "grayscale", "hflip", "resized_crop",
           "gaussian_blur"]:
    CHECKS[op] = check_augmentation


def ours_for(t, name):
    if name.endswith(" - before"):
        base = name[:-len(" - before")]
        return t[base] - t["before." + base[len("after."):]]
    return t[name]


def verify_case(path):
    """(op, worst abs, worst rel, passed, the worst tensor's name) for one case file."""
    t, m = read_safetensors(path)
    torch.manual_seed(0)
    results = CHECKS[m["op"]](t, m)
    worst_abs = worst_rel = 0.0
    passed, worst_name = True, ""
    for name, theirs, kind in results:
        ours = ours_for(t, name).double()
        theirs = theirs.detach().double()
        if ours.shape != theirs.shape:
            return m["op"], float("inf"), float("inf"), False, name + " (shape)"
        error = (ours - theirs).abs().max().item() if ours.numel() else 0.0
        scale = theirs.abs().max().item() if theirs.numel() else 0.0
        relative = error / scale if scale > 0 else error
        limit, how = TOLERANCE[kind]
        ok = (error if how == "abs" else relative) <= limit
        if relative >= worst_rel or not ok:
            worst_name = name
        worst_abs, worst_rel = max(worst_abs, error), max(worst_rel, relative)
        passed = passed and ok
    return m["op"], worst_abs, worst_rel, passed, worst_name


def verify_directory(directory, quiet=False):
    files = sorted(f for f in os.listdir(directory) if f.endswith(".safetensors"))
    failures, seen = 0, set()
    for name in files:
        op, error, relative, passed, worst = verify_case(os.path.join(directory, name))
        seen.add(op)
        failures += not passed
        if not quiet or not passed:
            print(f"{'ok  ' if passed else 'FAIL'} {name:46s} {op:14s} max abs {error:.2e} "
                  f"max rel {relative:.2e}  ({worst})")
    missing = [op for op in OPS if op not in seen]
    for op in missing:
        print(f"FAIL no case for op {op}")
    return failures + len(missing), len(files)


def self_test(directory):
    """A copied case with one output value changed must fail."""
    scratch = tempfile.mkdtemp(prefix="crosscheck_selftest_")
    try:
        source = os.path.join(directory, "conv2d_b2_c3_7x5_o4_k3_s1_p1.safetensors")
        target = os.path.join(scratch, "conv2d_changed.safetensors")
        shutil.copy(source, target)
        with open(target, "r+b") as f:
            raw = bytearray(f.read())
            (n,) = struct.unpack("<Q", raw[:8])
            begin = json.loads(raw[8:8 + n])["y"]["data_offsets"][0]
            at = 8 + n + begin + 4 * 5                    # the sixth value of y
            (value,) = struct.unpack("<f", raw[at:at + 4])
            raw[at:at + 4] = struct.pack("<f", value + 1e-3)
            f.seek(0)
            f.write(raw)
        op, error, relative, passed, worst = verify_case(target)
        print(f"self-test: y[5] of a copied conv2d case changed by 1e-3 -> "
              f"{'NOT caught' if passed else 'caught'} (max abs {error:.2e}, max rel "
              f"{relative:.2e} in {worst})")
        return not passed
    finally:
        shutil.rmtree(scratch)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1 or "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0 if "--help" in argv or "-h" in argv else 2
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    failures, count = verify_directory(args[0])
    print(f"{count} cases, {failures} failed (PyTorch {torch.__version__}, "
          f"torchvision {torchvision.__version__})")
    if "--self-test" in argv and not self_test(args[0]):
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
