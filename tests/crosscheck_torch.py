#!/usr/bin/env python3
"""Verify simclr-c's reference outputs (simclr golden --out DIR) against PyTorch / torchvision.

    python3 tests/crosscheck_torch.py DIR              check every case in DIR
    python3 tests/crosscheck_torch.py --self-test DIR  also show that a changed value is caught
                                                       in every kind of case

Each case file (safetensors; DIR/README.txt states every op's conventions) holds the inputs,
the op's parameters in its metadata, and simclr-c's outputs. A train_step case's metadata key
views_forward says how the two views went through the network: "joint" (one batch of 2N, as
the official code; also when the key is absent) or "separate" (z0 = model(view0),
z1 = model(view1), as LightlySSL's examples). This script recomputes every case with torch.nn.functional
(autograd for the gradients: of L = sum(y * dy), or of the loss itself for ntxent and
train_step), torchvision.transforms.functional (antialias=True for resize) and
torchvision.models.resnet18, and prints one line per case with the largest absolute and
relative error. The relative error of a tensor is normwise: max|ours - torch| / max|torch|.
The second edition's cases are recomputed from what README.txt states, with no help from
simclr-c: the random streams (PCG32 seeded through SplitMix64) in Python integers, each view's
parameters drawn again from its stream and compared with those recorded, the views made again
by torchvision from those parameters, the initial weights drawn again from the seed, several
steps of SGD (torch.optim.SGD) and of LARS (written out below), each step from our state
before it, and the end-to-end case from the images and the seed alone (its views and initial
state ours only for comparison). The data-parallel cases (ntxent_distributed,
batchnorm_distributed) simulate their K ranks with plain tensors: each rank's NT-Xent over its
own anchors against the gathered rows, by autograd, and SyncBatchNorm's per-rank sums added
over the ranks; each also against the whole batch computed at once. The cases that train a
network (train_step, train_steps, end_to_end) are recomputed in float64, the exact result, and
again by PyTorch in float32: a float32 step (ours or PyTorch's) misses the exact one by ~5e-5,
more on a tensor whose sums cancel, so each such tensor of ours passes within the tolerance
below or within 4x PyTorch's own float32 error (2 bits), whichever is larger.
Tolerances (exit status 1 on any case beyond them, or on a missing op):
    forward values 1e-5 relative, whole networks 1e-4 relative, gradients 1e-4 relative,
    augmentation outputs 1e-5 absolute, integers drawn from the streams (u32, randint, crop
    windows, flips, orders) exactly, floats drawn from them 1e-6 relative (libm's log, exp
    and cos may differ by an ulp between C libraries; a fused multiply-add may round
    uniform(a, b) once).
Needs only Debian's python3-torchvision (PyTorch 1.13, torchvision 0.14) and numpy; it is an
example for users and a check for the project, never part of the build.
"""
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_references import read_safetensors as read_arrays  # noqa: E402

TOLERANCE = {"forward": (1e-5, "rel"), "network": (1e-4, "rel"), "grad": (1e-4, "rel"),
             "aug": (1e-5, "abs"), "exact": (0.0, "abs"), "stream": (1e-6, "rel")}
OPS = ["conv2d", "batchnorm2d", "batchnorm1d", "linear", "relu", "maxpool2d", "avgpool", "ntxent",
       "brightness", "contrast", "saturation", "hue", "grayscale", "hflip", "resized_crop",
       "gaussian_blur", "resnet", "train_step", "rng", "init", "view", "train_steps",
       "end_to_end", "ntxent_distributed", "batchnorm_distributed"]


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


def check_ntxent_distributed(t, m):
    """K ranks simulated with plain tensors, as LightlySSL's NTXentLoss(gather_distributed=True)
    computes on each: rank r normalises its own rows of z0 and z1, gathers every rank's rows in
    rank order, and its loss is the cross-entropy of its 2n anchors against all 2N - 1 other
    gathered rows. Autograd through the gather gives rank r's gradient for every rank's rows."""
    K, temperature = int(m["ranks"]), float(m["temperature"])
    N = t["z0"].shape[0]
    n = N // K
    losses, gradients = [], []
    for r in range(K):
        # every rank's rows as separate leaves: what the gather concatenates
        z0 = [leaf(t["z0"][q * n:(q + 1) * n]) for q in range(K)]
        z1 = [leaf(t["z1"][q * n:(q + 1) * n]) for q in range(K)]
        u0, u1 = [F.normalize(z, dim=1) for z in z0], [F.normalize(z, dim=1) for z in z1]
        gathered = torch.cat(u0 + u1)  # (2N, d): [view 0 of every rank; view 1 of every rank]
        anchors = torch.cat([u0[r], u1[r]])  # (2n, d): rank r's own rows
        mine = torch.cat([torch.arange(r * n, (r + 1) * n),
                          torch.arange(N + r * n, N + (r + 1) * n)])  # their rows in gathered
        logits = anchors @ gathered.t() / temperature
        logits = logits.masked_fill(F.one_hot(mine, 2 * N).bool(), float("-inf"))
        targets = torch.cat([mine[n:], mine[:n]])  # the other view of the same image
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        losses.append(loss.detach())
        gradients.append(torch.stack([torch.cat([z.grad for z in z0]),
                                      torch.cat([z.grad for z in z1])]))
    loss_per_rank, dz_per_rank = torch.stack(losses), torch.stack(gradients)  # (K), (K, 2, N, d)
    mean = dz_per_rank.mean(0)
    z0, z1 = leaf(t["z0"]), leaf(t["z1"])
    whole = ntxent(z0, z1, temperature)  # the single-process loss of the whole batch
    whole.backward()
    return [("loss_per_rank", loss_per_rank, "forward"), ("dz_per_rank", dz_per_rank, "grad"),
            ("loss", loss_per_rank.mean().reshape(1), "forward"), ("dz0", mean[0], "grad"),
            ("dz1", mean[1], "grad"),
            ("loss (whole batch)", whole.detach().reshape(1), "forward", t["loss"]),
            ("dz0 (whole batch)", z0.grad, "grad", t["dz0"]),
            ("dz1 (whole batch)", z1.grad, "grad", t["dz1"])]


def check_batchnorm_distributed(t, m):
    """SyncBatchNorm's computation with K simulated ranks: each rank's count, sum(x) and
    sum(x^2) per channel, added over the ranks, give the mean and the biased variance that
    normalise every rank's rows; autograd through those sums gives the backward (the sums of dy
    and dy * x_hat over all ranks that SyncBatchNorm exchanges). Also the whole batch at once by
    F.batch_norm, which must agree."""
    K, eps, momentum = int(m["ranks"]), float(m["eps"]), float(m["momentum"])
    n = t["x"].shape[0] // K
    xs = [leaf(t["x"][r * n:(r + 1) * n]) for r in range(K)]
    w, b = leaf(t["weight"]), leaf(t["bias"])
    dims = [0] + list(range(2, t["x"].dim()))  # every axis but the channel's
    view = (1, -1) + (1,) * (t["x"].dim() - 2)
    count = sum(x.numel() // x.shape[1] for x in xs)
    total = sum(x.sum(dims) for x in xs)
    squares = sum((x * x).sum(dims) for x in xs)
    mean = total / count
    var = squares / count - mean * mean
    invstd = 1.0 / torch.sqrt(var + eps)
    ys = [(x - mean.view(view)) * invstd.view(view) * w.view(view) + b.view(view) for x in xs]
    sum(((y * t["dy"][r * n:(r + 1) * n]).sum() for r, y in enumerate(ys))).backward()
    unbiased = var.detach() * count / (count - 1)
    rm = (1 - momentum) * t["running_mean"] + momentum * mean.detach()
    rv = (1 - momentum) * t["running_var"] + momentum * unbiased
    x = leaf(t["x"])
    w1, b1 = leaf(t["weight"]), leaf(t["bias"])
    rm1, rv1 = t["running_mean"].clone(), t["running_var"].clone()
    y1 = F.batch_norm(x, rm1, rv1, w1, b1, training=True, momentum=momentum, eps=eps)
    (y1 * t["dy"]).sum().backward()
    return [("y", torch.cat(ys), "forward"), ("mean", mean, "forward"),
            ("invstd", invstd, "forward"), ("running_mean_out", rm, "forward"),
            ("running_var_out", rv, "forward"),
            ("dx", torch.cat([x.grad for x in xs]), "grad"), ("dweight", w.grad, "grad"),
            ("dbias", b.grad, "grad"),
            ("y (whole batch)", y1, "forward", t["y"]),
            ("running_var_out (whole batch)", rv1, "forward", t["running_var_out"]),
            ("dx (whole batch)", x.grad, "grad", t["dx"]),
            ("dweight (whole batch)", w1.grad, "grad", t["dweight"])]


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


def resnet18_encoder(stem, width=1.0, in_channels=3):
    """torchvision's resnet18 without fc; the CIFAR stem (paper B.9) when asked; every channel
    count times width (rounded, at least 1)."""
    net = torchvision.models.resnet18()
    widths = [max(1, int(round(64 * width * k))) for k in (1, 2, 4, 8)]
    if width != 1.0 or in_channels != 3:
        block = torchvision.models.resnet.BasicBlock
        net.inplanes = widths[0]
        net.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
        net.bn1 = nn.BatchNorm2d(widths[0])
        net.layer1 = net._make_layer(block, widths[0], 2)
        net.layer2 = net._make_layer(block, widths[1], 2, stride=2)
        net.layer3 = net._make_layer(block, widths[2], 2, stride=2)
        net.layer4 = net._make_layer(block, widths[3], 2, stride=2)
    if stem == "cifar":
        net.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=1, padding=1,
                              bias=False)
        net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.feature_dim = widths[3]
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

    def __init__(self, stem, hidden, out, width=1.0):
        super().__init__()
        self.backbone = resnet18_encoder(stem, width)
        self.projection_head = nn.Module()
        self.projection_head.layers = nn.Sequential(
            nn.Linear(self.backbone.feature_dim, hidden, bias=False), nn.BatchNorm1d(hidden),
            nn.ReLU(), nn.Linear(hidden, out, bias=False), nn.BatchNorm1d(out))

    def forward(self, x):
        return self.projection_head.layers(self.backbone(x))


# The cases that train a network are recomputed in float64, the exact result: a float32
# training step (ours, PyTorch's) misses it by ~5e-5 relative and, on a small tensor whose
# gradient sums terms that cancel (batch norm's backward over a few samples), by more: measured
# on one case, a batch-norm bias's gradient missed by 1.18e-4 (ours, the -march=native build
# on an AVX-512 machine) and 5.5e-5 (PyTorch's float32), and at the next step by 7.9e-5 (ours)
# and 1.05e-4 (PyTorch's: beyond the 1e-4 tolerance itself). Such an error is a sample of
# c·eps·(the tensor's condition), and two samples differ by small factors. So each tensor of
# these cases is also computed by PyTorch in float32, and ours passes when it is within the
# tolerance or within 4x PyTorch's own float32 error (2 bits), whichever is larger: as accurate
# as PyTorch's own float32 step, up to 2 bits. The one-op cases and the resnet forward passes
# are recomputed in float32, as before.
NETWORK_DTYPE = [torch.float64]
TRAINING_OPS = ("train_step", "train_steps", "end_to_end")


def model_for(m):
    return SimCLRModel(m["stem"], int(m["hidden"]), int(m["out_dim"]),
                       float(m.get("width", "1"))).to(NETWORK_DTYPE[0])


def project(model, view0, view1, n, views_forward):
    """z0, z1 with the views as one batch of 2N (joint) or two batches of N (separate)."""
    view0, view1 = view0.to(NETWORK_DTYPE[0]), view1.to(NETWORK_DTYPE[0])
    if views_forward == "joint":
        # one batch of 2N, batch-norm statistics over both views (the official code)
        z = model(torch.cat([view0, view1]))
        return z[:n], z[n:]
    if views_forward == "separate":
        # two batches of N, each with its own batch-norm statistics; the running statistics
        # are updated twice (LightlySSL's examples: z0 = model(x0); z1 = model(x1))
        return model(view0), model(view1)
    raise ValueError(f"unknown views_forward '{views_forward}' (joint or separate)")


class LARS:
    """The official SimCLR code's LARS (lars_optimizer.py, classic momentum) as README.txt
    states it: conv and linear weights get weight decay and the trust ratio
    eta * ||w|| / ||g||; batch-norm parameters and biases get neither."""

    def __init__(self, model, lr, momentum, weight_decay, eta):
        self.lr, self.momentum, self.weight_decay, self.eta = lr, momentum, weight_decay, eta
        norms = {id(p) for mod in model.modules()
                 if isinstance(mod, nn.modules.batchnorm._BatchNorm)
                 for p in mod.parameters(recurse=False)}
        self.params = [(name, p, id(p) in norms or name.endswith("bias"))
                       for name, p in model.named_parameters()]
        self.velocity = {name: torch.zeros_like(p) for name, p, _ in self.params}

    @torch.no_grad()
    def step(self):
        for name, p, excluded in self.params:
            g, trust = p.grad, 1.0
            if not excluded:
                g = g + self.weight_decay * p
                w_norm, g_norm = p.double().norm().item(), g.double().norm().item()
                if w_norm > 0 and g_norm > 0:
                    trust = self.eta * w_norm / g_norm
            v = self.velocity[name]
            v.mul_(self.momentum).add_(g * (self.lr * trust))
            p.sub_(v)


def state_results(model, t, prefix, previous, theirs_before):
    """The model's state against ours under prefix; each parameter's update (the state minus
    the one before the step: ours under previous, PyTorch's in theirs_before) as a gradient."""
    results = []
    parameters = dict(model.named_parameters())
    for name, value in state_copy(model).items():  # (copies: the model goes on training)
        ours = prefix + name
        if value.dtype == torch.int64:
            results.append((ours, value, "exact"))  # num_batches_tracked
        elif name in parameters:
            # the update w_after - w_before is lr * (gradient + weight decay): a gradient
            results.append((ours, value, "network"))
            results.append((ours + " - " + previous + "*", value - theirs_before[name], "grad",
                            t[ours] - t[previous + name]))
        else:
            results.append((ours, value, "network"))  # running statistics
    return results


def state_copy(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_train_step(t, m):
    model = model_for(m)
    before = {k[len("before."):]: v for k, v in t.items() if k.startswith("before.")}
    model.load_state_dict(before, strict=True)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(m["lr"]),
                                momentum=float(m["momentum"]),
                                weight_decay=float(m["weight_decay"]))
    z0, z1 = project(model, t["view0"], t["view1"], int(m["batch"]),
                     m.get("views_forward", "joint"))
    loss = ntxent(z0, z1, float(m["temperature"]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    results = [("loss", loss.detach().reshape(t["loss"].shape), "network")]
    return results + state_results(model, t, "after.", "before.", before)
# ---- the second edition: streams, views, initial weights, several steps, end to end -------------
# Everything below follows README.txt's statements, not simclr-c's source.

MASK64, MASK32 = (1 << 64) - 1, (1 << 32) - 1
DOMAINS = {"view": 0x76696577, "init": 0x696E6974, "shuf": 0x73687566, "data": 0x64617461}
F32 = np.float32


def splitmix64(s):
    """(the new state, the output) of one SplitMix64 step."""
    s = (s + 0x9E3779B97F4A7C15) & MASK64
    z = s
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return s, z ^ (z >> 31)


class Stream:
    """stream(seed, domain, a, b, c): PCG32 (XSH-RR 64/32) seeded through SplitMix64."""

    def __init__(self, seed, domain, a, b, c):
        key = seed
        for v in (domain, a, b, c):
            _, key = splitmix64(key ^ v)
        s, initstate = splitmix64(key)
        s, initseq = splitmix64(s)
        self.state, self.increment = 0, ((initseq << 1) | 1) & MASK64
        self.u32()
        self.state = (self.state + initstate) & MASK64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.increment) & MASK64
        x, r = ((((old >> 18) ^ old) >> 27) & MASK32), old >> 59
        return ((x >> r) | (x << ((32 - r) & 31))) & MASK32

    def uniform(self):
        return F32(self.u32() >> 8) * F32(2.0 ** -24)

    def uniform_range(self, a, b):
        a, b = F32(a), F32(b)
        return F32(a + F32(F32(b - a) * self.uniform()))

    def randint(self, lo, hi):
        n = hi - lo
        threshold = ((1 << 32) - n) % n
        while True:
            r = self.u32()
            if r >= threshold:
                return lo + r % n

    def normal(self):
        u1 = float(self.uniform())
        u2 = float(self.uniform())
        return F32(math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2))

    def jitter(self, strength):
        order = [0, 1, 2, 3]
        for i in (3, 2, 1):
            j = self.randint(0, i + 1)
            order[i], order[j] = order[j], order[i]
        m = F32(0.8) * F32(strength)
        low = max(F32(0.0), F32(F32(1.0) - m))
        factors = [self.uniform_range(low, F32(1.0) + m) for _ in range(3)]
        factors.append(self.uniform_range(-F32(0.2) * F32(strength), F32(0.2) * F32(strength)))
        return order, factors


def sample_crop(r, H, W, m):
    """RandomResizedCrop's window as README.txt states it: (top, left, height, width)."""
    min_scale, max_scale = float(m["min_scale"]), float(m["max_scale"])
    min_ratio, max_ratio = float(m["min_ratio"]), float(m["max_ratio"])
    area, lo, hi = float(H * W), math.log(min_ratio), math.log(max_ratio)
    for _ in range(10):
        target = area * float(r.uniform_range(F32(min_scale), F32(max_scale)))
        aspect = math.exp(float(r.uniform_range(F32(lo), F32(hi))))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))  # half even
        if 0 < w <= W and 0 < h <= H:
            top = r.randint(0, H - h + 1)
            return top, r.randint(0, W - w + 1), h, w
    if W / H < min_ratio:
        w, h = W, round(W / min_ratio)
    elif W / H > max_ratio:
        h, w = H, round(H * max_ratio)
    else:
        w, h = W, H
    return (H - h) // 2, (W - w) // 2, h, w


def sample_view(seed, epoch, index, v, H, W, m):
    """Every parameter view v of (seed, epoch, index) draws, in the order of README.txt."""
    r = Stream(seed, DOMAINS["view"], epoch, index, v)
    p = {"crop": sample_crop(r, H, W, m)}
    p["flip"] = (int(r.uniform() < F32(m["p_hflip"])), int(r.uniform() < F32(m["p_vflip"])))
    p["jitter"] = int(r.uniform() < F32(m["p_jitter"]))
    p["jitter_order"], p["jitter_factors"] = r.jitter(F32(m["strength"]))
    p["grayscale"] = int(r.uniform() < F32(m["p_gray"]))
    p["blur"] = int(r.uniform() < F32(m["p_blur"]))
    p["blur_sigma"] = r.uniform_range(F32(m["blur_sigma_min"]), F32(m["blur_sigma_max"]))
    size = int(m["size"])
    kernel = size // 10
    p["blur_kernel"] = max(3, kernel + 1 if kernel % 2 == 0 else kernel)
    return p


def make_view(img, p, m):
    """The view made by torchvision from its parameters."""
    size, c = int(m["size"]), img.shape[0]
    top, left, h, w = p["crop"]
    x = TF.resized_crop(img, top, left, h, w, [size, size],
                        interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    if p["flip"][0]:
        x = TF.hflip(x)
    if p["flip"][1]:
        x = TF.vflip(x)
    if p["jitter"]:
        b, con, sat, hue = (float(f) for f in p["jitter_factors"])
        for op in p["jitter_order"]:
            if op == 0:
                x = TF.adjust_brightness(x, b)
            elif op == 1:
                x = TF.adjust_contrast(x, con)
            elif op == 2:
                x = TF.adjust_saturation(x, sat)  # a 1-channel image as it is
            else:
                x = TF.adjust_hue(x, hue)
    if p["grayscale"] and c == 3:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    if p["blur"]:
        k, sigma = int(p["blur_kernel"]), float(p["blur_sigma"])
        x = TF.gaussian_blur(x, [k, k], [sigma, sigma])
    if int(m.get("normalize", "1")):
        mean = [float(v) for v in m["mean"].split(",")][:c]
        std = [float(v) for v in m["std"].split(",")][:c]
        x = TF.normalize(x, mean, std)
    return x


VIEW_INTEGERS = ("crop", "flip", "jitter", "jitter_order", "grayscale", "blur", "blur_kernel")


def check_view(t, m):
    seed, epoch, index = int(m["seed"]), int(m["epoch"]), int(m["index"])
    img = t["img"]
    results = []
    for v in (0, 1):
        p = sample_view(seed, epoch, index, v, img.shape[1], img.shape[2], m)
        for key in VIEW_INTEGERS:
            results.append((f"view{v}.{key}", np.array(p[key], dtype=np.int64).reshape(-1),
                            "exact"))
        results.append((f"view{v}.jitter_factors", np.array(p["jitter_factors"]), "stream"))
        results.append((f"view{v}.blur_sigma", np.array([p["blur_sigma"]]), "stream"))
        results.append((f"view{v}", make_view(img, p, m), "aug"))
    return results


def check_rng(t, m):
    args = (int(m["seed"]), int(m["domain_number"]), int(m["a"]), int(m["b"]), int(m["c"]))
    fresh = lambda: Stream(*args)  # noqa: E731
    r = fresh()
    results = [("state", np.array([r.state], dtype=np.uint64).astype(np.float64), "exact",
                np.array([int(m["state"])], dtype=np.uint64).astype(np.float64)),
               ("increment", np.array([r.increment], dtype=np.uint64).astype(np.float64),
                "exact", np.array([int(m["increment"])], dtype=np.uint64).astype(np.float64))]
    # (exactly: both sides through the same float64 rounding of a 64-bit integer; the low
    # bits are then checked through the draws, which depend on all of them)
    results.append(("u32", np.array([r.u32() for _ in range(16)], dtype=np.int64), "exact"))
    r = fresh()
    results.append(("uniform", np.array([r.uniform() for _ in range(16)]), "exact"))
    r = fresh()
    results.append(("normal", np.array([r.normal() for _ in range(8)]), "stream"))
    rows = []
    for n in t["randint_n"].tolist():
        r = fresh()
        rows.append([r.randint(0, n) for _ in range(8)])
    results.append(("randint", np.array(rows, dtype=np.int64), "exact"))
    order, factors = fresh().jitter(F32(m["jitter_strength"]))
    results.append(("jitter_order", np.array(order, dtype=np.int64), "exact"))
    results.append(("jitter_factors", np.array(factors), "stream"))
    return results


def initial_state(model, seed):
    """torchvision's initialisation drawn from stream(seed, 'init', 0, 0, 0) over the tensors in
    state_dict order, as README.txt states it (a numpy float32 array per tensor)."""
    r = Stream(seed, DOMAINS["init"], 0, 0, 0)
    linear = {name + ".weight": mod.in_features for name, mod in model.named_modules()
              if isinstance(mod, nn.Linear)}
    linear.update({name + ".bias": mod.in_features for name, mod in model.named_modules()
                   if isinstance(mod, nn.Linear) and mod.bias is not None})
    state = {}
    for name, value in model.state_dict().items():
        shape = tuple(value.shape)
        if name in linear:
            bound = F32(1.0 / math.sqrt(linear[name]))
            a = np.array([r.uniform_range(-bound, bound) for _ in range(value.numel())],
                         dtype=np.float32)
        elif value.dim() == 4:  # a convolution's weight (O, C, k, k): fan_out = O k k
            std = F32(math.sqrt(2.0 / (shape[0] * shape[2] * shape[3])))
            a = np.array([std * r.normal() for _ in range(value.numel())], dtype=np.float32)
        elif value.dtype == torch.int64:
            a = np.zeros(shape, dtype=np.int64)
        elif name.endswith("weight") or name.endswith("running_var"):
            a = np.ones(shape, dtype=np.float32)
        else:
            a = np.zeros(shape, dtype=np.float32)
        state[name] = a.reshape(shape)
    return state


def check_init(t, m):
    model = model_for(m)
    state = initial_state(model, int(m["seed"]))
    return [(name, value, "exact" if value.dtype == np.int64 else "stream")
            for name, value in state.items()]


def check_train_steps(t, m):
    """Each step from our state before it (before.*, then step<s-1>.*: weights, running
    statistics, momentum buffers), so that one step's rounding is not compounded by the next:
    three one-step checks, of which the second and third start from a non-zero buffer and a
    changed learning rate (where the momentum conventions part)."""
    model = model_for(m)
    lrs = [float(v) for v in m["lr_steps"].split(",")]
    momentum, decay = float(m["momentum"]), float(m["weight_decay"])
    n, results, previous = int(m["batch"]), [], "before."
    names = [name for name, _ in model.named_parameters()]
    for step in range(1, int(m["steps"]) + 1):
        state = {k[len(previous):]: v for k, v in t.items() if k.startswith(previous) and
                 not k.startswith(previous + "momentum.") and
                 k[len(previous):] not in ("view0", "view1", "loss")}
        model.load_state_dict(state, strict=True)
        model.train()
        parameters = dict(model.named_parameters())
        if m["optimizer"] == "sgd":
            optimizer = torch.optim.SGD(model.parameters(), lr=lrs[step - 1], momentum=momentum,
                                        weight_decay=decay)
            if step > 1:  # PyTorch's buffer: buf = momentum * buf + d from ours
                for name in names:
                    optimizer.state[parameters[name]]["momentum_buffer"] = (
                        t[previous + "momentum." + name].to(NETWORK_DTYPE[0]).clone())
        else:
            optimizer = LARS(model, lrs[step - 1], momentum, decay, float(m["lars_eta"]))
            if step > 1:
                for name in names:
                    optimizer.velocity[name] = (
                        t[previous + "momentum." + name].to(NETWORK_DTYPE[0]).clone())
        theirs_before = state_copy(model)
        z0, z1 = project(model, t[f"step{step}.view0"], t[f"step{step}.view1"], n,
                         m["views_forward"])
        loss = ntxent(z0, z1, float(m["temperature"]))
        model.zero_grad()
        loss.backward()
        optimizer.step()
        prefix = f"step{step}."
        results.append((prefix + "loss", loss.detach().reshape(1), "network"))
        results += state_results(model, t, prefix, previous, theirs_before)
        for name in names:
            buffer = (optimizer.state[parameters[name]]["momentum_buffer"]
                      if m["optimizer"] == "sgd" else optimizer.velocity[name])
            results.append((prefix + "momentum." + name, buffer.detach().clone(), "grad"))
        previous = prefix
    return results


def check_end_to_end(t, m):
    """From the images and the seed alone: the views, the initial state, the step."""
    seed, epoch, results = int(m["seed"]), int(m["first_epoch"]), []
    view_meta = {"size": m["size"], "min_scale": "0.08", "max_scale": "1",
                 "min_ratio": repr(3.0 / 4.0), "max_ratio": repr(4.0 / 3.0), "p_hflip": "0.5",
                 "p_vflip": "0", "p_jitter": "0.8", "strength": "0.5", "p_gray": "0.2",
                 "p_blur": "0", "blur_sigma_min": "0.1", "blur_sigma_max": "2", "normalize": "1",
                 "mean": "0.4914,0.4822,0.4465", "std": "0.2470,0.2435,0.2616"}
    if m["preset"] != "cifar":
        raise ValueError("end_to_end: only the cifar preset is known here")
    images, indices = t["images"], t["indices"].tolist()
    views = [torch.stack([make_view(images[k], sample_view(seed, epoch, indices[k], v,
                                                           images.shape[2], images.shape[3],
                                                           view_meta), view_meta)
                          for k in range(len(indices))]) for v in (0, 1)]
    results += [("view0", views[0], "aug"), ("view1", views[1], "aug")]
    model = model_for(m)
    state = initial_state(model, seed)
    results += [("before." + name, value, "exact" if value.dtype == np.int64 else "stream")
                for name, value in state.items()]
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    model.train()
    theirs_before = state_copy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(m["lr"]),
                                momentum=float(m["momentum"]),
                                weight_decay=float(m["weight_decay"]))
    z0, z1 = project(model, views[0], views[1], int(m["batch"]), m["views_forward"])
    loss = ntxent(z0, z1, float(m["temperature"]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    results.append(("loss", loss.detach().reshape(t["loss"].shape), "network"))
    return results + state_results(model, t, "after.", "before.", theirs_before)


CHECKS = {"conv2d": check_conv2d, "batchnorm2d": check_batchnorm, "batchnorm1d": check_batchnorm,
          "linear": check_linear,
          "relu": check_unary(lambda x, m: F.relu(x)),
          "maxpool2d": check_unary(lambda x, m: F.max_pool2d(
              x, int(m["kernel"]), int(m["stride"]), int(m["padding"]))),
          "avgpool": check_unary(lambda x, m: F.adaptive_avg_pool2d(x, 1).flatten(1)),
          "ntxent": check_ntxent, "resnet": check_resnet, "train_step": check_train_step,
          "rng": check_rng, "init": check_init, "view": check_view,
          "train_steps": check_train_steps, "end_to_end": check_end_to_end,
          "ntxent_distributed": check_ntxent_distributed,
          "batchnorm_distributed": check_batchnorm_distributed}
for op in ["brightness", "contrast", "saturation", "hue", "grayscale", "hflip", "resized_crop",
           "gaussian_blur"]:
    CHECKS[op] = check_augmentation


def verify_case(path):
    """(op, worst abs, worst rel, passed, the worst tensor's name) for one case file."""
    t, m = read_safetensors(path)
    torch.manual_seed(0)
    results = CHECKS[m["op"]](t, m)
    pytorch_float32 = [None] * len(results)
    if m["op"] in TRAINING_OPS:  # the same computed by PyTorch in float32: its own error
        NETWORK_DTYPE[0] = torch.float32
        try:
            torch.manual_seed(0)
            pytorch_float32 = [item[1] for item in CHECKS[m["op"]](t, m)]
        finally:
            NETWORK_DTYPE[0] = torch.float64
    worst_abs = worst_rel = 0.0
    passed, worst_name = True, ""
    for item, theirs32 in zip(results, pytorch_float32):
        name, theirs, kind = item[:3]
        ours = torch.as_tensor(item[3] if len(item) > 3 else t[name]).double()
        theirs = torch.as_tensor(theirs).detach().double()
        if ours.shape != theirs.shape:
            return m["op"], float("inf"), float("inf"), False, name + " (shape)"
        error = (ours - theirs).abs().max().item() if ours.numel() else 0.0
        scale = theirs.abs().max().item() if theirs.numel() else 0.0
        relative = error / scale if scale > 0 else error
        limit, how = TOLERANCE[kind]
        if theirs32 is not None and how == "rel" and scale > 0:
            # ours may miss the exact result by up to 4x what PyTorch's own float32 misses it by
            theirs32 = torch.as_tensor(theirs32).detach().double()
            limit = max(limit, 4.0 * (theirs32 - theirs).abs().max().item() / scale)
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


# One changed value per kind of case: (the first file whose name starts with, its tensor, the
# index of the value, the change).
SELF_TEST = [("conv2d_b2_c3_7x5_o4_k3_s1_p1", "y", 5, 1e-3),
             ("rng_2020_view_0_0_0", "u32", 3, 1),
             ("rng_2020_view_0_0_0", "normal", 2, 1e-5),
             ("init_", "backbone.conv1.weight", 7, 1e-4),
             ("view_shapes_train0_cifar", "view0.crop", 1, 1),
             ("view_shapes_train0_cifar", "view1", 5, 1e-3),
             ("train_step_", "after.backbone.layer1.0.conv1.weight", 5, 1e-3),
             ("train_steps_sgd", "step3.momentum.backbone.layer2.0.conv1.weight", 9, 1e-2),
             ("train_steps_lars", "step2.projection_head.layers.0.weight", 4, 1e-3),
             ("end_to_end", "view1", 11, 1e-3),
             ("end_to_end", "after.projection_head.layers.3.weight", 2, 1e-3),
             ("ntxent_distributed_k2", "loss_per_rank", 1, 1e-4),
             ("ntxent_distributed_k4", "dz_per_rank", 300, 1e-3),
             ("batchnorm_distributed_k4_b8_c3", "invstd", 1, 1e-4),
             ("batchnorm_distributed_k2", "dx", 40, 1e-3)]


def changed_copy(source, target, tensor, index, change):
    """A copy of the case file with one value of one tensor (F32 or I64) changed."""
    shutil.copy(source, target)
    with open(target, "r+b") as f:
        raw = bytearray(f.read())
        (n,) = struct.unpack("<Q", raw[:8])
        entry = json.loads(raw[8:8 + n])[tensor]
        fmt = "<q" if entry["dtype"] == "I64" else "<f"
        size = struct.calcsize(fmt)
        at = 8 + n + entry["data_offsets"][0] + size * index
        (value,) = struct.unpack(fmt, raw[at:at + size])
        raw[at:at + size] = struct.pack(fmt, value + change)
        f.seek(0)
        f.write(raw)


def self_test(directory):
    """A copied case with one value changed must fail, for every kind of case."""
    scratch = tempfile.mkdtemp(prefix="crosscheck_selftest_")
    caught_all = True
    try:
        files = sorted(os.listdir(directory))
        for prefix, tensor, index, change in SELF_TEST:
            source = next((f for f in files if f.startswith(prefix)), None)
            if source is None:
                print(f"self-test: no case {prefix}* to change")
                caught_all = False
                continue
            target = os.path.join(scratch, "changed_" + source)
            changed_copy(os.path.join(directory, source), target, tensor, index, change)
            op, error, relative, passed, worst = verify_case(target)
            print(f"self-test: {source}: {tensor}[{index}] changed by {change:g} -> "
                  f"{'NOT caught' if passed else 'caught'} (max abs {error:.2e}, max rel "
                  f"{relative:.2e} in {worst})")
            caught_all = caught_all and not passed
        return caught_all
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
