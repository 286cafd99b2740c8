"""PyTorch reference of `edge-ssl adapt --train all --no-bn-adapt --no-adapter`, for the
speed/memory comparison of issue 14: the bundled encoder rebuilt in PyTorch from its ONNX
(conv-BN-ReLU chain, global average pool), two camera-like views per frame rendered afresh every
epoch as edge-ssl does for a whole encoder (`augment` of scripts/adapt_reference.py; `--same-views`
renders one pair for all epochs, edge-ssl's recipe before that), then SimCLR on the whole encoder in training mode:
a 512→128 projector with BatchNorm, NT-Xent at temperature 0.2, AdamW lr 1e-3 weight decay
1e-2, 10 % linear warm-up then cosine to 1 %, batch 256 frames (both views in one batch), 15 epochs
(TuneConfig::default()).

usage: .venv/bin/python scripts/encoder_reference.py FRAMES_DIR [--epochs 15] [--threads 2]
Prints wall seconds per phase; run under `/usr/bin/time -v` for peak RSS.
"""
import argparse
import math
import time
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from adapt_reference import augment, decode


def encoder_from_onnx(path: Path) -> torch.nn.Sequential:
    """The chain of Conv (no bias), BatchNormalization, Relu, GlobalAveragePool, Flatten."""
    model = onnx.load(str(path))
    w = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            weight = w[node.input[1]]
            conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:],
                                   stride=attrs.get("strides", [1, 1]),
                                   padding=attrs.get("pads", [0, 0, 0, 0])[:2], bias=len(node.input) > 2)
            conv.weight.data.copy_(weight)
            if len(node.input) > 2:
                conv.bias.data.copy_(w[node.input[2]])
            layers.append(conv)
        elif node.op_type == "BatchNormalization":
            scale = w[node.input[1]]
            bn = torch.nn.BatchNorm2d(len(scale), eps=attrs.get("epsilon", 1e-5),
                                      momentum=1 - attrs.get("momentum", 0.9))
            bn.weight.data.copy_(scale)
            bn.bias.data.copy_(w[node.input[2]])
            bn.running_mean.copy_(w[node.input[3]])
            bn.running_var.copy_(w[node.input[4]])
            layers.append(bn)
        elif node.op_type == "Relu":
            layers.append(torch.nn.ReLU())
        elif node.op_type == "GlobalAveragePool":
            layers.append(torch.nn.AdaptiveAvgPool2d(1))
        elif node.op_type == "Flatten":
            layers.append(torch.nn.Flatten())
        else:
            raise SystemExit(f"operator {node.op_type} is not in this reference")
    return torch.nn.Sequential(*layers)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(torch.cat([a, b]), dim=1)
    n = len(a)
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("frames", type=Path)
    ap.add_argument("--onnx", type=Path, default=Path(__file__).parent.parent / "models/fmnist-ssl/encoder.onnx")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--same-views", action="store_true", help="one pair of views for every epoch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.time()
    frames = torch.from_numpy(decode(args.frames)).float().div(255).unsqueeze(1)
    gen = torch.Generator().manual_seed(0)
    a, b = (((augment(frames, gen, 28) - 0.286) / 0.353) for _ in range(2))
    t_views = time.time() - t0
    encoder = encoder_from_onnx(args.onnx).train()
    width = encoder(a[:2]).shape[1]
    proj = torch.nn.Sequential(torch.nn.Linear(width, 512), torch.nn.BatchNorm1d(512),
                               torch.nn.ReLU(), torch.nn.Linear(512, 128))
    params = list(encoder.parameters()) + list(proj.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    n = len(frames)
    per_epoch = max(1, n // args.batch)
    steps = per_epoch * args.epochs
    warmup = max(1, steps // 10)

    def lr_factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        progress = min(1.0, (s - warmup) / max(1, steps - warmup))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    t1 = time.time()
    losses = []
    for epoch in range(args.epochs):
        if epoch > 0 and not args.same_views:
            a, b = (((augment(frames, gen, 28) - 0.286) / 0.353) for _ in range(2))
        order = torch.randperm(n, generator=gen)
        for i in range(per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            z = proj(encoder(torch.cat([a[idx], b[idx]])))
            loss = nt_xent(z[:len(idx)], z[len(idx):], 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    t_train = time.time() - t1
    print(f"frames {n}: views {t_views:.2f} s, train {t_train:.2f} s ({len(losses)} steps, "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}), total {time.time() - t0:.2f} s")


if __name__ == "__main__":
    main()
