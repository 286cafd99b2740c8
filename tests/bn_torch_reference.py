"""PyTorch's own train-mode BatchNorm statistics, as the reference for edge-ssl's one-pass BN
re-estimation (crates/runtime/tests/bn_torch.rs).

usage: bn_torch_reference.py ARCH OUT_DIR [--size 224] [--batch 8] [--batches 3] [--short 4] [--seed 0]

Exports ARCH with random weights exactly as `models/export.py ARCH --random-init` does (same build,
BN calibration and export code, imported from it) to OUT_DIR/ARCH.onnx with its card ARCH.toml,
makes camera-like frames (smooth gradients, blobs, stripes and noise, deterministic), preprocesses
them as the card says (/255, ImageNet mean/std) and writes them as float32 batches
OUT_DIR/batch_{i}.npy of shape (n, 3*size*size): batches 0..BATCHES-1 of BATCH frames, then one
"short" batch of SHORT frames. Then, for every BatchNormalization node of the ONNX in graph order
(index k):

  equal_{k:03}.npy  (2, C): running_mean and running_var of the PyTorch module after
                    `model.train()` with momentum=None over batches 0..BATCHES-1 — what PyTorch
                    itself stores (cumulative average of batch means and of unbiased batch variances).
  short_{k:03}.npy  (2, C): the same statistics over batches 0..BATCHES-2 and the short batch,
                    each batch weighted by its number of frames (edge-ssl's documented rule for
                    unequal batches; PyTorch would weigh them equally). Each batch's statistics
                    are PyTorch's: a fresh module state, one train-mode forward on that batch alone.

The script checks its own reading of PyTorch before writing: the frame-weighted average of the
per-batch statistics over the equal batches must equal PyTorch's cumulative running statistics.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
import export as ex  # noqa: E402  (models/export.py)


def frames(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """n camera-like RGB frames, uint8 (n, size, size, 3)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        base = rng.uniform(40, 200, 3)
        grad = rng.uniform(-80, 80, (2, 3))
        img = base + x[..., None] * grad[0] + y[..., None] * grad[1]
        for _ in range(rng.integers(2, 6)):                      # blobs
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            mask = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
            img[mask] = rng.uniform(0, 255, 3)
        freq, phase = rng.uniform(3, 20), rng.uniform(0, 6.3)  # stripes
        img += 25 * np.sin(2 * np.pi * freq * (x + 0.3 * y) + phase)[..., None]
        img += rng.normal(0, 8, img.shape)                       # sensor noise
        out[i] = img
    return np.clip(out, 0, 255).astype(np.uint8)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.float32(ex.IMAGENET_MEAN)) / np.float32(ex.IMAGENET_STD)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def bn_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def train_mode_stats(model: nn.Module, batches: list[np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """running_mean/var of every BN module after a train-mode pass over `batches`, momentum=None."""
    bns = bn_modules(model)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    for m in bns.values():
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for b in batches:
            model(torch.from_numpy(b))
    stats = {name: (m.running_mean.double().numpy().copy(), m.running_var.double().numpy().copy())
             for name, m in bns.items()}
    model.load_state_dict(saved)
    model.eval()
    return stats


def weighted(per_batch: list[dict], weights: list[int]) -> dict:
    total = float(sum(weights))
    return {name: tuple(sum(w * s[name][j] for s, w in zip(per_batch, weights)) / total for j in (0, 1))
            for name in per_batch[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--short", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    # As models/export.py --random-init does it.
    torch.manual_seed(args.seed)
    _, feats = ex.build(args.arch)
    ex.calibrate_bn(feats, args.size, args.seed)
    feats.eval()
    onnx_path = out / f"{args.arch}.onnx"
    ex.export(feats, onnx_path, args.size, False)
    with torch.no_grad():
        dim = feats(torch.zeros(1, 3, args.size, args.size)).shape[1]
    ex.write_card(out / f"{args.arch}.toml", onnx_path, dim, args.size,
                  {"method": "none (random init)", "data": "none", "architecture": args.arch,
                   "source": "tests/bn_torch_reference.py", "seed": args.seed})

    rng = np.random.default_rng(args.seed + 1)
    sizes = [args.batch] * args.batches + [args.short]
    batches = [preprocess(frames(n, args.size, rng)) for n in sizes]
    for i, b in enumerate(batches):
        np.save(out / f"batch_{i}.npy", b.reshape(b.shape[0], -1))

    equal = train_mode_stats(feats, batches[:args.batches])
    per_batch = [train_mode_stats(feats, [b]) for b in batches]
    check = weighted(per_batch[:args.batches], sizes[:args.batches])
    worst = max(float(np.abs(check[k][j] - equal[k][j]).max() / (np.abs(equal[k][j]).max() + 1e-12))
                for k in equal for j in (0, 1))
    assert worst < 1e-5, f"PyTorch's cumulative average is not the average of batch statistics ({worst:.1e})"
    short_idx = list(range(args.batches - 1)) + [args.batches]
    short = weighted([per_batch[i] for i in short_idx], [sizes[i] for i in short_idx])

    model = onnx.load(str(onnx_path))
    modules = bn_modules(feats)
    k = 0
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        name = node.input[3].removesuffix(".running_mean")
        if name not in modules:
            name = name.removeprefix("body.") if name.removeprefix("body.") in modules else name
        assert name in modules, f"ONNX BN node {node.name} ({node.input[3]}) has no PyTorch module"
        np.save(out / f"equal_{k:03}.npy", np.stack(equal[name]).astype(np.float32))
        np.save(out / f"short_{k:03}.npy", np.stack(short[name]).astype(np.float32))
        k += 1
    assert k == len(modules), f"{k} BN nodes in the ONNX, {len(modules)} BN modules in PyTorch"
    print(f"{args.arch}: {k} BN layers, batches {sizes}, self-check {worst:.1e}")


if __name__ == "__main__":
    main()
