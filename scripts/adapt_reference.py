"""Python reference of `edge-ssl adapt`'s recipe, for the speed/memory comparison: decode the
frames, K camera-like augmented views per frame (crop, flip, brightness/contrast/gamma, blur,
noise) at the encoder's input size, embed every view once (ONNX Runtime, batches of 256; BN
re-estimation is left out here; compare with the Rust run's --no-bn-adapt), then train the same
residual adapter A(e) = e + W2 relu(W1 LN(e)) with a projector and VICReg in PyTorch (AdamW,
warmup + cosine, 10 epochs, batch 256). Augmentations are vectorized over all frames with
torch (grid_sample crop, exposure, per-image Gaussian blur, noise); the encoder runs in ONNX
Runtime, the fastest way to run it from Python here.

usage: .venv/bin/python scripts/adapt_reference.py FRAMES_DIR [--views 8] [--epochs 10]
Prints wall seconds per phase; run under `/usr/bin/time -v` for peak RSS.
"""
import argparse
import math
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F


def decode(folder: Path) -> np.ndarray:
    from PIL import Image as Img  # only the reference needs Pillow
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return np.stack([np.asarray(Img.open(p).convert("L"), dtype=np.uint8) for p in files])


def augment(frames: torch.Tensor, gen: torch.Generator, size: int) -> torch.Tensor:
    """One camera-like view of every frame (N×1×H×W in [0,1]) → N×1×size×size, with the ranges
    and probabilities of `AugmentConfig::camera()` (crates/train/src/augment/config.rs)."""
    n, _, h, w = frames.shape
    scale = torch.empty(n).uniform_(0.5, 1.0, generator=gen)
    ratio = torch.exp(torch.empty(n).uniform_(math.log(0.8), math.log(1.25), generator=gen))
    cw = torch.sqrt(scale * ratio).clamp(max=1.0)
    ch = torch.sqrt(scale / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - cw)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - ch)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = ch
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    x = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Exposure (p = 0.8): brightness, contrast about the mean, gamma — each clamped, as in Rust.
    color = torch.rand(n, 1, 1, 1, generator=gen) < 0.8
    b = torch.empty(n, 1, 1, 1).uniform_(0.7, 1.3, generator=gen)
    c = torch.empty(n, 1, 1, 1).uniform_(0.7, 1.3, generator=gen)
    g = torch.exp(torch.empty(n, 1, 1, 1).uniform_(math.log(0.7), math.log(1.4), generator=gen))
    xb = (x * b).clamp(0, 1)
    m = xb.mean(dim=(2, 3), keepdim=True)
    y = ((xb - m) * c + m).clamp(0, 1) ** g
    x = torch.where(color, y, x)
    # Focus blur (p = 0.5): separable Gaussian, sigma U(0.2, 1.2) per image, radius 4, edges clamped.
    sigma = torch.empty(n).uniform_(0.2, 1.2, generator=gen)
    taps = torch.arange(-4, 5, dtype=torch.float32)
    k = torch.exp(-taps[None, :] ** 2 / (2 * sigma[:, None] ** 2))
    k = k / k.sum(dim=1, keepdim=True)
    planes = x.reshape(1, n, size, size)
    planes = F.conv2d(F.pad(planes, (4, 4, 0, 0), mode="replicate"), k[:, None, None, :], groups=n)
    planes = F.conv2d(F.pad(planes, (0, 0, 4, 4), mode="replicate"), k[:, None, :, None], groups=n)
    blur = torch.rand(n, 1, 1, 1, generator=gen) < 0.5
    x = torch.where(blur, planes.reshape(n, 1, size, size), x)
    # Sensor noise (p = 0.5), sd U(0.005, 0.04).
    noise = (torch.rand(n, 1, 1, 1, generator=gen) < 0.5).float()
    std = torch.empty(n, 1, 1, 1).uniform_(0.005, 0.04, generator=gen)
    x = x + noise * std * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


class Adapter(torch.nn.Module):
    def __init__(self, d: int, hidden: int = 256):
        super().__init__()
        self.norm = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, hidden)
        self.fc2 = torch.nn.Linear(hidden, d)
        torch.nn.init.zeros_(self.fc2.weight)
        torch.nn.init.zeros_(self.fc2.bias)

    def forward(self, e):
        return e + self.fc2(F.relu(self.fc1(self.norm(e))))


def vicreg(a, b, sim=25.0, var=25.0, cov=1.0):
    inv = F.mse_loss(a, b)

    def stats(z):
        z = z - z.mean(0)
        std = torch.sqrt(z.var(0) + 1e-4)
        c = (z.T @ z) / (z.shape[0] - 1)
        off = c - torch.diag(torch.diag(c))
        return F.relu(1 - std).mean(), (off**2).sum() / z.shape[1]

    va, ca = stats(a)
    vb, cb = stats(b)
    return sim * inv + var * (va + vb) + cov * (ca + cb)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("frames", type=Path)
    ap.add_argument("--onnx", type=Path, default=Path(__file__).parent.parent / "models/fmnist-ssl/encoder.onnx")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    frames = torch.from_numpy(decode(args.frames)).float().div(255).unsqueeze(1)
    t_decode = time.time() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(args.onnx), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    gen = torch.Generator().manual_seed(0)
    views = []
    t1 = time.time()
    for _ in range(args.views):
        x = ((augment(frames, gen, 28) - 0.286) / 0.353).numpy()
        views.append(np.concatenate([sess.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)]))
    cache = torch.from_numpy(np.stack(views)).float()
    t_views = time.time() - t1
    k, n, d = cache.shape
    adapter, proj = Adapter(d), torch.nn.Sequential(
        torch.nn.Linear(d, 256), torch.nn.BatchNorm1d(256), torch.nn.ReLU(), torch.nn.Linear(256, 256))
    params = list(adapter.parameters()) + list(proj.parameters())
    # TrainConfig::default(): AdamW lr 1e-3, weight decay 1e-2, 10 % linear warmup, cosine to 1 %.
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    per_epoch = max(1, n // args.batch)
    steps = per_epoch * args.epochs
    warmup = max(1, round(0.1 * steps))

    def lr_factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        progress = min(1.0, (s - warmup) / max(1, steps - warmup))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    t2 = time.time()
    losses = []
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            # Two distinct views per frame, uniformly among the K(K-1) ordered pairs.
            va = torch.randint(k, (args.batch,), generator=gen)
            vb = torch.randint(k - 1, (args.batch,), generator=gen)
            vb = vb + (vb >= va).long()
            loss = vicreg(proj(adapter(cache[va, idx])), proj(adapter(cache[vb, idx])))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    t_train = time.time() - t2
    print(f"frames {n} views {k}: decode {t_decode:.2f} s, views+embed {t_views:.2f} s, "
          f"train {t_train:.2f} s ({len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}), "
          f"total {time.time() - t0:.2f} s")


if __name__ == "__main__":
    main()
