"""Frozen-feature evaluation of an encoder on Fashion-MNIST: linear probe and k-NN.

    python models/evaluate.py --onnx models/fmnist-ssl/encoder.onnx       # what the card reports
    python models/evaluate.py --checkpoint .cache/fmnist-ssl/simclr/checkpoint.pt

Features: the encoder's 128-d output for the 60,000 train and 10,000 test images, preprocessed exactly
as the card says (pixel/255, (x-mean)/std), no augmentation. With --onnx the features come from ONNX
Runtime, so the numbers describe the committed file, not the PyTorch weights it came from.

- Linear probe: multinomial logistic regression (L-BFGS, full batch) on standardized features. The L2
  strength is chosen on a split of the train set (first 50k fit, last 10k validate), then the probe is
  refit on all 60k train images and scored once on the 10k test images.
- k-NN: k=20 nearest train features by cosine similarity, majority vote (ties broken by summed similarity).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fmnist  # noqa: E402

L2_GRID = (0.0, 1e-5, 1e-4)


def features_torch(checkpoint: Path, images: np.ndarray, batch=1000) -> np.ndarray:
    ck = torch.load(checkpoint, weights_only=False, map_location="cpu")
    enc = fmnist.encoder_from_checkpoint(ck)
    outs = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            outs.append(enc(fmnist.to_input(images[i:i + batch])).numpy())
    return np.concatenate(outs)


def features_onnx(path: Path, images: np.ndarray, threads: int, batch=1000) -> np.ndarray:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    outs = []
    for i in range(0, len(images), batch):
        x = fmnist.to_input(images[i:i + batch]).numpy()
        outs.append(sess.run(["embedding"], {"input": x})[0])
    return np.concatenate(outs)


def fit_logreg(x: torch.Tensor, y: torch.Tensor, l2: float, classes=10, iters=150) -> torch.Tensor:
    w = torch.zeros(x.shape[1] + 1, classes, requires_grad=True)
    xb = torch.cat([x, torch.ones(len(x), 1)], 1)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=iters, history_size=20, tolerance_grad=1e-7,
                            tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xb @ w, y) + l2 * w[:-1].pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def predict_logreg(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (torch.cat([x, torch.ones(len(x), 1)], 1) @ w).argmax(1)


def linear_probe(ftr: np.ndarray, ytr: np.ndarray, fte: np.ndarray, yte: np.ndarray) -> dict:
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    xtr = torch.from_numpy((ftr - mu) / sd).float()
    xte = torch.from_numpy((fte - mu) / sd).float()
    ytr_t, yte_t = torch.from_numpy(ytr).long(), torch.from_numpy(yte).long()
    val = {}
    for l2 in L2_GRID:
        w = fit_logreg(xtr[:50000], ytr_t[:50000], l2)
        val[l2] = (predict_logreg(w, xtr[50000:]) == ytr_t[50000:]).float().mean().item()
    best = max(val, key=lambda k: (val[k], k))
    w = fit_logreg(xtr, ytr_t, best)
    acc = (predict_logreg(w, xte) == yte_t).float().mean().item()
    return {"linear_probe_accuracy": acc, "linear_probe_l2": best,
            "linear_probe_val": {str(k): round(v, 4) for k, v in val.items()}}


def knn(ftr: np.ndarray, ytr: np.ndarray, fte: np.ndarray, yte: np.ndarray, k=20, classes=10) -> float:
    a = F.normalize(torch.from_numpy(ftr).float(), dim=1)
    b = F.normalize(torch.from_numpy(fte).float(), dim=1)
    ytr_t = torch.from_numpy(ytr).long()
    correct = 0
    for i in range(0, len(b), 1000):
        sim, idx = (b[i:i + 1000] @ a.t()).topk(k, dim=1)
        lab = ytr_t[idx]
        votes = F.one_hot(lab, classes).float().sum(1)
        simsum = torch.zeros(len(lab), classes).scatter_add_(1, lab, sim)
        pred = (votes * 1e3 + simsum).argmax(1)  # votes first, summed similarity breaks ties
        correct += (pred == torch.from_numpy(yte[i:i + 1000]).long()).sum().item()
    return correct / len(b)


def evaluate(ftr, ytr, fte, yte) -> dict:
    res = linear_probe(ftr, ytr, fte, yte)
    res["knn20_accuracy"] = knn(ftr, ytr, fte, yte)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx", type=Path)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--raw-pixels", action="store_true", help="baseline: the normalized pixels as features")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.time()
    xtr, ytr = fmnist.load("train")
    xte, yte = fmnist.load("t10k")
    if args.onnx:
        ftr, fte = features_onnx(args.onnx, xtr, args.threads), features_onnx(args.onnx, xte, args.threads)
    elif args.checkpoint:
        ftr, fte = features_torch(args.checkpoint, xtr), features_torch(args.checkpoint, xte)
    else:
        ftr = fmnist.to_input(xtr).flatten(1).numpy()
        fte = fmnist.to_input(xte).flatten(1).numpy()
    t1 = time.time()
    res = evaluate(ftr, ytr, fte, yte)
    res.update({"source": str(args.onnx or args.checkpoint or "raw-pixels"), "feature_seconds": round(t1 - t0, 1),
                "eval_seconds": round(time.time() - t1, 1)})
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
