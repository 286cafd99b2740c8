"""Export a user's own encoder (torchvision / timm architecture + local checkpoint) to ONNX + card.

    python models/export.py resnet18 --checkpoint lightly_resnet18.ckpt --out-dir site-models/
    python models/export.py vit_small_patch16_224 --checkpoint dino_deitsmall16_pretrain.pth --method dino
    python models/export.py resnet50 --random-init            # speed benchmarks; into .cache/models/
    python models/export.py --self-test                       # round-trip every listed architecture

Checkpoints: a plain state dict, or one nested under "state_dict" / "model" / "teacher" / "student" /
"backbone" / "encoder" (lightning, solo-learn, DINO). Prefixes `module.`, `backbone.`, `encoder.`, `model.`
and `_orig_mod.` are stripped; keys of heads (fc, head, classifier, projector, prototypes, predictor...)
are dropped. lightly's `nn.Sequential(*list(resnet.children())[:-1])` backbones (keys `0.weight`,
`4.0.conv1.weight`, ...) are mapped back to torchvision names. Loading is strict on what remains, so a
checkpoint for another architecture fails loudly instead of exporting random weights.

The ONNX (opset 17, input `input` [N,3,224,224] with dynamic N, output `embedding` [N,D]) holds the
backbone's pooled features with the classifier removed. BatchNormalization nodes are kept unfused so the
runtime can re-estimate BN statistics on device (`--fold-bn` fuses them). ONNX Runtime is checked against
PyTorch on random inputs and the max abs difference printed; the card beside the ONNX says 3 channels,
224x224, ImageNet mean/std, center-crop.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = REPO / ".cache" / "models"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# Architectures the self-test covers; any other torchvision or timm name is tried as well.
LISTED = ["resnet18", "resnet50", "mobilenet_v3_small", "vit_small_patch16_224"]

PREFIXES = ("module.", "_orig_mod.", "model.", "backbone.", "encoder.", "teacher.", "student.")
HEAD_KEY = re.compile(
    r"^(fc|head|heads|classifier|projector|projection_head|prototypes|predictor|prediction_head|"
    r"momentum_\w+|queue\w*|head_dist|pre_logits|proj_head)(\.|$)")


class Features(nn.Module):
    """Wraps a backbone so its forward returns the pooled features as one [N, D] tensor."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.body(x), 1)


def build(arch: str) -> tuple[nn.Module, nn.Module]:
    """(the module that takes the checkpoint's keys, the features-only module to export)."""
    import torchvision.models as tvm
    if arch in tvm.list_models():
        m = tvm.get_model(arch, weights=None)
        if hasattr(m, "fc"):                       # ResNet, RegNet, ...
            m.fc = nn.Identity()
        elif hasattr(m, "classifier"):             # MobileNet, EfficientNet, ConvNeXt, ...
            m.classifier = nn.Identity()
        elif hasattr(m, "heads"):                  # torchvision ViT
            m.heads = nn.Identity()
        else:
            raise SystemExit(f"don't know where the head of torchvision {arch} is")
        return m, Features(m)
    import timm
    if timm.is_model(arch):
        m = timm.create_model(arch, pretrained=False, num_classes=0)  # num_classes=0: pooled features
        return m, Features(m)
    raise SystemExit(f"unknown architecture {arch!r}: not a torchvision or timm model name")


def unwrap(ck) -> dict:
    if not isinstance(ck, dict):
        raise SystemExit("checkpoint is not a dict / state dict")
    for key in ("state_dict", "model", "teacher", "student", "backbone", "encoder", "model_state"):
        if key in ck and isinstance(ck[key], dict):
            # DINO checkpoints hold both networks; the teacher is the one evaluated and released.
            return unwrap(ck[key]) if not any(torch.is_tensor(v) for v in ck[key].values()) else ck[key]
    tensors = {k: v for k, v in ck.items() if torch.is_tensor(v)}
    if not tensors:
        raise SystemExit(f"no tensors in checkpoint; top-level keys: {list(ck)[:10]}")
    return tensors


def clean_state_dict(sd: dict, target: nn.Module) -> tuple[OrderedDict, list[str]]:
    out, dropped = OrderedDict(), []
    for k, v in sd.items():
        key = k
        changed = True
        while changed:
            changed = False
            for p in PREFIXES:
                if key.startswith(p):
                    key, changed = key[len(p):], True
        if HEAD_KEY.match(key):
            dropped.append(k)
            continue
        out[key] = v
    # lightly: nn.Sequential(*list(resnet.children())[:-1]) -> keys "0.weight", "4.1.bn2.bias", ...
    if out and all(re.match(r"^\d+\.", k) for k in out):
        names = [n for n, _ in target.named_children()]
        out = OrderedDict((f"{names[int(k.split('.', 1)[0])]}.{k.split('.', 1)[1]}", v) for k, v in out.items())
    # Momentum encoders saved beside the online one (MoCo/BYOL in lightly/solo-learn) are not the backbone.
    return out, dropped


def load_checkpoint(model: nn.Module, path: Path) -> list[str]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    sd, dropped = clean_state_dict(unwrap(ck), model)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # torchvision's fc/classifier were replaced by Identity, so no missing head keys are expected.
    if missing or unexpected:
        raise SystemExit(f"checkpoint does not fit: missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                         f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}")
    return dropped


def calibrate_bn(model: nn.Module, size: int, seed: int) -> None:
    """Random init leaves BN running stats at (0, 1), which makes some nets (MobileNetV3) output ~1e-8;
    one pass in train mode over noise gives activations of a realistic scale so the diff means something."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model(torch.randn(8, 3, size, size, generator=g))
    model.eval()


def export(model: nn.Module, path: Path, size: int, fold_bn: bool) -> None:
    model.eval()
    torch.onnx.export(
        model, (torch.randn(1, 3, size, size),), str(path), opset_version=17, dynamo=False,
        input_names=["input"], output_names=["embedding"],
        dynamic_axes={"input": {0: "N"}, "embedding": {0: "N"}},
        # PRESERVE on an eval-mode module keeps inference BatchNormalization nodes; EVAL fuses them into Conv.
        training=torch.onnx.TrainingMode.EVAL if fold_bn else torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=fold_bn,
    )


def verify(model: nn.Module, path: Path, size: int, seed: int = 0) -> tuple[float, float, int, list]:
    import onnx
    import onnxruntime as ort
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    n_bn = sum(n.op_type == "BatchNormalization" for n in m.graph.node)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    worst, scale, dims = 0.0, 0.0, []
    for n in (1, 3):                                       # two batch sizes: the batch dim is dynamic
        x = torch.randn(n, 3, size, size, generator=g)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(["embedding"], {"input": x.numpy()})[0]
        assert got.shape == ref.shape, (got.shape, ref.shape)
        worst = max(worst, float(np.abs(ref - got).max()))
        scale = max(scale, float(np.abs(ref).max()))
        dims = list(got.shape)
    return worst, scale, n_bn, dims


def write_card(path: Path, onnx_path: Path, dim: int, size: int, pretraining: dict) -> None:
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    q = json.dumps
    lines = [
        f"onnx = {q(onnx_path.name)}", f"sha256 = {q(sha)}", "",
        "[input]", 'name = "input"', 'layout = "NCHW"', f"height = {size}", f"width = {size}", "channels = 3",
        f"mean = {IMAGENET_MEAN}", f"std = {IMAGENET_STD}", 'resize = "center-crop"', "",
        "[output]", 'name = "embedding"', f"dim = {dim}", "", "[pretraining]",
    ]
    lines += [f"{k} = {q(v)}" for k, v in pretraining.items()]
    path.write_text("\n".join(lines) + "\n")


def run_one(arch: str, checkpoint: Path | None, out_dir: Path, size: int, method: str, data: str,
            fold_bn: bool, seed: int) -> dict:
    torch.manual_seed(seed)
    t0 = time.time()
    target, feats = build(arch)
    dropped = load_checkpoint(target, checkpoint) if checkpoint else []
    if not checkpoint:
        calibrate_bn(feats, size, seed)
    feats.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{arch}.onnx"
    export(feats, onnx_path, size, fold_bn)
    diff, scale, n_bn, dims = verify(feats, onnx_path, size, seed)
    pretraining = {
        "method": method if checkpoint else "none (random init)",
        "data": data if checkpoint else "none",
        "architecture": arch,
        "source": str(checkpoint) if checkpoint else "random init (export.py --random-init)",
        "seed": seed,
    }
    write_card(out_dir / f"{arch}.toml", onnx_path, dims[1], size, pretraining)
    res = {"arch": arch, "onnx": str(onnx_path), "embedding_dim": dims[1], "batchnorm_nodes": n_bn,
           "bytes": onnx_path.stat().st_size, "ort_vs_torch_max_abs_diff": diff,
           "torch_output_max_abs": scale, "dropped_keys": len(dropped),
           "seconds": round(time.time() - t0, 1)}
    print(json.dumps(res), flush=True)
    return res


def self_test(out_dir: Path, threads: int) -> None:
    """Round-trip every listed architecture, and the checkpoint-key handling on fake lightly/solo-learn files."""
    import tempfile
    ok = True
    for arch in LISTED:
        res = run_one(arch, None, out_dir, 224, "", "", False, 0)
        rel = res["ort_vs_torch_max_abs_diff"] / max(res["torch_output_max_abs"], 1e-12)
        good = rel < 1e-3
        ok &= good
        print(f"self-test {arch}: max abs diff {res['ort_vs_torch_max_abs_diff']:.2e} "
              f"(outputs up to {res['torch_output_max_abs']:.2e}, relative {rel:.1e}; "
              f"dim {res['embedding_dim']}, {res['batchnorm_nodes']} BN nodes) {'ok' if good else 'FAIL'}",
              flush=True)
    # Checkpoint layouts: the weights that come out must be the weights that went in.
    src, _ = build("resnet18")
    ref = {k: v.clone() for k, v in src.state_dict().items()}
    seq_names = [n for n, _ in src.named_children()][:-1]
    fake_head = {"weight": torch.randn(10, 512), "bias": torch.randn(10)}
    layouts = {
        "solo-learn": {"state_dict": {**{f"backbone.{k}": v for k, v in ref.items()},
                                      **{f"projector.0.{k}": v for k, v in fake_head.items()},
                                      **{f"classifier.{k}": v for k, v in fake_head.items()}}},
        "lightly-sequential": {"state_dict": {
            **{f"backbone.{seq_names.index(k.split('.', 1)[0])}.{k.split('.', 1)[1]}": v for k, v in ref.items()},
            **{f"projection_head.layers.0.{k}": v for k, v in fake_head.items()}}},
        "ddp-module": {f"module.encoder.{k}": v for k, v in ref.items()} | {"module.fc.weight": torch.randn(10, 512)},
        "torchvision": {**ref, "fc.weight": torch.randn(1000, 512), "fc.bias": torch.randn(1000)},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, ck in layouts.items():
            p = Path(tmp) / f"{name}.pt"
            torch.save(ck, p)
            dst, _ = build("resnet18")
            load_checkpoint(dst, p)
            same = all(torch.equal(dst.state_dict()[k], v) for k, v in ref.items())
            ok &= same
            print(f"self-test checkpoint layout {name}: {'ok' if same else 'FAIL'}", flush=True)
        # DINO releases: {"teacher": {"module.backbone.<timm key>", "module.head.mlp...", ...}}.
        vit, _ = build("vit_small_patch16_224")
        vref = {k: v.clone() for k, v in vit.state_dict().items()}
        ck = {"teacher": {**{f"module.backbone.{k}": v for k, v in vref.items()},
                          "module.head.mlp.0.weight": torch.randn(2048, 384),
                          "module.head.last_layer.weight_g": torch.randn(65536, 1)},
              "student": {f"module.backbone.{k}": torch.zeros_like(v) for k, v in vref.items()}, "epoch": 100}
        p = Path(tmp) / "dino.pth"
        torch.save(ck, p)
        dst, _ = build("vit_small_patch16_224")
        load_checkpoint(dst, p)
        same = all(torch.equal(dst.state_dict()[k], v) for k, v in vref.items())
        ok &= same
        print(f"self-test checkpoint layout dino-teacher (vit_small_patch16_224): {'ok' if same else 'FAIL'}",
              flush=True)
    print("self-test", "passed" if ok else "FAILED")
    if not ok:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch", nargs="?", help=f"torchvision or timm name, e.g. {', '.join(LISTED)}")
    ap.add_argument("--checkpoint", type=Path, help="local state dict (lightly, solo-learn, DINO, torchvision)")
    ap.add_argument("--random-init", action="store_true", help="no weights: for speed benchmarks only")
    ap.add_argument("--out-dir", type=Path, default=None, help=f"default {DEFAULT_CACHE} (gitignored)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--method", default="unknown", help="card: how the checkpoint was trained (simclr, dino...)")
    ap.add_argument("--data", default="unknown", help="card: what it was trained on")
    ap.add_argument("--fold-bn", action="store_true", help="fuse BatchNorm into Conv (no on-device BN re-estimation)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out_dir = args.out_dir or DEFAULT_CACHE

    if args.self_test:
        self_test(out_dir, args.threads)
        return
    if not args.arch:
        ap.error("give an architecture name (or --self-test)")
    if bool(args.checkpoint) == bool(args.random_init):
        ap.error("give exactly one of --checkpoint PATH or --random-init")
    run_one(args.arch, args.checkpoint, out_dir, args.size, args.method, args.data, args.fold_bn, args.seed)


if __name__ == "__main__":
    main()
