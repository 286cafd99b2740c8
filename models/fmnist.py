"""Fashion-MNIST data, the bundled encoder's architecture and its camera-like augmentations.

Shared by pretrain.py, evaluate.py and bundle.py so that the network that is trained, evaluated and
exported is one definition. The I/O contract of the bundled encoder (input `[N,1,28,28]` normalized with
the train-set mean/std, output `[N,D]` pooled features, D = `embed_dim` in the checkpoint's config and the
card) is fixed here; the Rust runtime reads D from the ONNX output shape.
"""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "fmnist-ssl"

# Mean/std of the 60,000 training images after pixel/255 (computed by `python models/fmnist.py`).
MEAN = 0.2860
STD = 0.3530
# Channels of the last 3x3 stage (4 x width 32), and so the pooled size when no 1x1 widening is asked
# for; checkpoints written before `--embed-dim` existed are this 128-d network.
EMBED_DIM = 128


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N,28,28] and labels [N] of `train` or `t10k`."""
    images = _read_idx(DATA_DIR / f"{split}-images-idx3-ubyte.gz")
    labels = _read_idx(DATA_DIR / f"{split}-labels-idx1-ubyte.gz")
    return images, labels


def to_input(images_u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N,28,28] -> normalized float32 [N,1,28,28], exactly the card's preprocessing."""
    x = torch.tensor(np.asarray(images_u8)).float().div_(255.0).unsqueeze(1)
    return (x - MEAN) / STD


def conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """Six 3x3 conv-BN-ReLU layers, 28 -> 14 -> 7 -> 4, global average pool to `embed_dim` features.

    With `embed_dim` above the last stage's 4*width channels, a 1x1 conv-BN-ReLU widens the last
    stage before pooling (128 -> 256 costs 0.52 M MACs, against 2.36 M for a wider 3x3); with
    `embed_dim` equal to 4*width (the 6-epoch encoder) there is no extra layer.

    Plain conv/BN/ReLU keeps every node something the on-device trainer can import (Conv,
    BatchNormalization, Relu, GlobalAveragePool), which step 6 of the design (tail fine-tuning) needs.
    """

    def __init__(self, width: int = 32, embed_dim: int = EMBED_DIM):
        super().__init__()
        w = width
        if embed_dim < 4 * w:
            raise ValueError(f"embed_dim {embed_dim} is below the last stage's {4 * w} channels")
        layers = [
            conv_bn(1, w),              # 28x28
            conv_bn(w, w, 2),           # 14x14
            conv_bn(w, 2 * w),
            conv_bn(2 * w, 2 * w, 2),   # 7x7
            conv_bn(2 * w, 4 * w),
            conv_bn(4 * w, 4 * w, 2),   # 4x4
        ]
        if embed_dim > 4 * w:
            layers.append(conv_bn(4 * w, embed_dim, kernel=1))
        self.embed_dim = embed_dim
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


def encoder_from_checkpoint(ck: dict) -> Encoder:
    """The encoder of a `pretrain.py` checkpoint, weights loaded, in eval mode (older checkpoints have
    no `embed_dim` in their config: they are the 128-d network)."""
    cfg = ck.get("config", {})
    enc = Encoder(cfg.get("width", 32), cfg.get("embed_dim", EMBED_DIM))
    enc.load_state_dict(ck["encoder"])
    return enc.eval()


def describe(enc: Encoder) -> str:
    """One line for the card: the layers of `enc`."""
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    widths = "-".join(str(c.out_channels) for c in convs)
    strides = ",".join(str(c.stride[0]) for c in convs)
    kernels = ",".join(f"{c.kernel_size[0]}x{c.kernel_size[1]}" for c in convs)
    return f"{len(convs)}x conv-BN-ReLU (kernels {kernels}; widths {widths}; strides {strides}), global average pool"


def count_macs(model: nn.Module, shape=(1, 1, 28, 28)) -> int:
    """Multiply-accumulates of conv and linear layers for one sample (1 MAC = 2 FLOPs)."""
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs += out.numel() * k
        elif isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(shape))
    model.train(was_training)
    for h in hs:
        h.remove()
    return macs


# ----------------------------------------------------------------------------------------------
# Camera-like augmentations, batched on tensors (per-sample random parameters) so that the 2-core
# pretraining box spends its time in the network, not in per-image PIL calls.
# Input and output: pixel/255 in [0,1], shape [B,1,H,W]; normalization happens afterwards.

AUGMENTATIONS = (
    "random resized crop (scale 0.25-1, aspect 3/4-4/3) with random zoom-out (p=0.2, scale 0.6-1), "
    "horizontal flip p=0.5, brightness x0.6-1.4, contrast x0.6-1.4, gamma 0.7-1.4 (p=0.8), "
    "gaussian blur sigma 0.1-1.2 (p=0.4), gaussian noise sd 0-0.06 (p=0.5)"
)


def _rand(b: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(b, generator=g) * (hi - lo) + lo


def random_resized_crop(x: torch.Tensor, g=None, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3),
                        zoom_out_p=0.2) -> torch.Tensor:
    b = x.shape[0]
    area = _rand(b, *scale, g)
    logr = _rand(b, math.log(ratio[0]), math.log(ratio[1]), g)
    r = torch.exp(logr)
    sw = torch.sqrt(area * r).clamp(max=1.0)   # crop width as a fraction of the image
    sh = torch.sqrt(area / r).clamp(max=1.0)
    # A camera also sees the object smaller than the frame: sometimes zoom out instead.
    zo = torch.rand(b, generator=g) < zoom_out_p
    z = _rand(b, 1.0, 1.0 / 0.6, g)
    sw = torch.where(zo, z, sw)
    sh = torch.where(zo, z, sh)
    cx = (torch.rand(b, generator=g) * 2 - 1) * (1 - sw).abs()
    cy = (torch.rand(b, generator=g) * 2 - 1) * (1 - sh).abs()
    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = sw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = sh
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Zero padding is black, the Fashion-MNIST background.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def photometric(x: torch.Tensor, g=None) -> torch.Tensor:
    b = x.shape[0]
    shape = (b, 1, 1, 1)
    bright = _rand(b, 0.6, 1.4, g).view(shape)
    contrast = _rand(b, 0.6, 1.4, g).view(shape)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x - mean) * contrast + mean) * bright
    y = y.clamp(0, 1)
    gamma = torch.where(torch.rand(b, generator=g) < 0.8, _rand(b, 0.7, 1.4, g), torch.ones(b))
    y = y.clamp_min(1e-6).pow(gamma.view(shape))
    return y


def gaussian_blur(x: torch.Tensor, g=None, p=0.4, sigma=(0.1, 1.2)) -> torch.Tensor:
    b, c, h, w = x.shape
    s = _rand(b, *sigma, g)
    apply = torch.rand(b, generator=g) < p
    r = 2
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t[None, :] ** 2) / (2 * s[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)                       # [B,5]
    ident = torch.zeros(2 * r + 1)
    ident[r] = 1
    k = torch.where(apply[:, None], k, ident[None, :])
    # Per-sample separable kernels via grouped convolution over the batch.
    y = x.reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.repeat_interleave(c, 0).view(b * c, 1, 1, -1),
                 groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.repeat_interleave(c, 0).view(b * c, 1, -1, 1),
                 groups=b * c)
    return y.view(b, c, h, w)


def noise(x: torch.Tensor, g=None, p=0.5, sd=0.06) -> torch.Tensor:
    b = x.shape[0]
    level = torch.where(torch.rand(b, generator=g) < p, _rand(b, 0, sd, g), torch.zeros(b))
    return (x + torch.randn(x.shape, generator=g) * level.view(b, 1, 1, 1)).clamp(0, 1)


def camera_augment(x01: torch.Tensor, g=None) -> torch.Tensor:
    """One random camera-like view of a batch in [0,1]; returns the normalized network input."""
    y = random_resized_crop(x01, g)
    y = photometric(y, g)
    y = gaussian_blur(y, g)
    y = noise(y, g)
    return (y - MEAN) / STD


if __name__ == "__main__":
    imgs, _ = load("train")
    x = imgs.astype(np.float64) / 255.0
    print(f"train mean {x.mean():.4f} std {x.std():.4f}")
    m = Encoder()
    macs = count_macs(m)
    n = sum(p.numel() for p in m.parameters())
    print(f"encoder: {n} params, {macs / 1e6:.2f} M MACs = {2 * macs / 1e6:.2f} MFLOPs per sample")
