"""Self-supervised pretraining of the bundled Fashion-MNIST encoder (no labels are read).

    python models/pretrain.py --method simclr --epochs 20 --out .cache/fmnist-ssl/simclr
    python models/pretrain.py --method vicreg --epochs 20 --out .cache/fmnist-ssl/vicreg

Writes `<out>/checkpoint.pt` atomically after every epoch (resumed automatically when present) and
`<out>/log.jsonl`. The checkpoint holds the encoder's state dict under "encoder"; the projector is kept
for resuming only and is never exported.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fmnist  # noqa: E402


def projector(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers += [nn.Linear(dims[i], dims[i + 1], bias=False), nn.BatchNorm1d(dims[i + 1]), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalized-temperature cross entropy over the 2B views of a batch."""
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    return F.cross_entropy(sim, target)


def vicreg(z1: torch.Tensor, z2: torch.Tensor, sim_w=25.0, var_w=25.0, cov_w=1.0) -> torch.Tensor:
    """VICReg: invariance (MSE) + variance hinge on each dimension's std + off-diagonal covariance."""
    n, d = z1.shape
    inv = F.mse_loss(z1, z2)
    z1 = z1 - z1.mean(0)
    z2 = z2 - z2.mean(0)
    std1 = torch.sqrt(z1.var(0) + 1e-4)
    std2 = torch.sqrt(z2.var(0) + 1e-4)
    var = F.relu(1 - std1).mean() / 2 + F.relu(1 - std2).mean() / 2
    c1 = (z1.t() @ z1) / (n - 1)
    c2 = (z2.t() @ z2) / (n - 1)
    off = lambda c: c.pow(2).sum() - c.diagonal().pow(2).sum()  # noqa: E731
    cov = off(c1) / d + off(c2) / d
    return sim_w * inv + var_w * var + cov_w * cov


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", choices=["simclr", "vicreg"], default="simclr")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=None, help="AdamW peak lr (default: 2e-3 simclr, 1e-3 vicreg)")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--embed-dim", type=int, default=256,
                    help="pooled output size; above 4*width a 1x1 conv widens the last stage (default 256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the box is shared; default 1)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N train images (smoke tests)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = args.out or fmnist.CACHE / args.method
    out.mkdir(parents=True, exist_ok=True)
    lr = args.lr if args.lr is not None else (2e-3 if args.method == "simclr" else 1e-3)

    images, _labels_never_used = fmnist.load("train")
    if args.limit:
        images = images[: args.limit]
    data = torch.from_numpy(images.copy()).unsqueeze(1)  # uint8 [N,1,28,28]
    n = data.shape[0]
    steps_per_epoch = n // args.batch_size
    total_steps = steps_per_epoch * args.epochs
    warmup = min(steps_per_epoch, total_steps // 10)

    encoder = fmnist.Encoder(args.width, args.embed_dim)
    if args.method == "simclr":
        proj = projector([args.embed_dim, 512, 128])
    else:
        proj = projector([args.embed_dim, 1024, 1024, 1024])
    model = nn.Sequential(encoder, proj)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=args.weight_decay)
    gen = torch.Generator().manual_seed(args.seed + 1)

    ckpt_path = out / "checkpoint.pt"
    start_epoch, train_seconds = 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        encoder.load_state_dict(ck["encoder"])
        proj.load_state_dict(ck["projector"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        start_epoch, train_seconds = ck["epoch"], ck["train_seconds"]
        print(f"resumed {ckpt_path} at epoch {start_epoch}", flush=True)

    log = open(out / "log.jsonl", "a")
    for epoch in range(start_epoch, args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        running = 0.0
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            cur_lr = lr * (step + 1) / warmup if step < warmup else \
                lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))
            for group in opt.param_groups:
                group["lr"] = cur_lr
            x = data[perm[i * args.batch_size:(i + 1) * args.batch_size]].float().div_(255.0)
            v1 = fmnist.camera_augment(x, gen)
            v2 = fmnist.camera_augment(x, gen)
            z = model(torch.cat([v1, v2]))
            z1, z2 = z.chunk(2)
            loss = nt_xent(z1, z2, args.temperature) if args.method == "simclr" else vicreg(z1, z2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item()
            if (i + 1) % 50 == 0:
                rate = (i + 1) * args.batch_size / (time.time() - t0)
                print(f"epoch {epoch + 1} step {i + 1}/{steps_per_epoch} loss {running / (i + 1):.4f} "
                      f"lr {cur_lr:.2e} {rate:.0f} img/s", flush=True)
        dt = time.time() - t0
        train_seconds += dt
        rec = {"epoch": epoch + 1, "loss": running / steps_per_epoch, "seconds": round(dt, 1),
               "img_per_s": round(steps_per_epoch * args.batch_size / dt, 1)}
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)
        atomic_save({
            "encoder": encoder.state_dict(), "projector": proj.state_dict(), "optimizer": opt.state_dict(),
            "generator": gen.get_state(), "epoch": epoch + 1, "train_seconds": train_seconds,
            "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "lr": lr,
                       "augmentations": fmnist.AUGMENTATIONS, "images": n},
        }, ckpt_path)
    print(f"done: {args.epochs} epochs, {train_seconds:.0f} s of training, checkpoint {ckpt_path}", flush=True)


if __name__ == "__main__":
    main()
