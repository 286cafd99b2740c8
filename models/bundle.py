"""Turn a pretraining checkpoint into the bundled encoder: `models/fmnist-ssl/encoder.{onnx,toml}`.

    python models/bundle.py .cache/fmnist-ssl/simclr/checkpoint.pt

Exports the encoder alone (projector dropped) in eval mode with its BatchNormalization nodes kept (the
runtime re-estimates BN statistics on device, so Conv+BN must not be fused), checks ONNX Runtime against
PyTorch, evaluates the ONNX file with evaluate.py's protocol and writes the card with the measured numbers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate  # noqa: E402
import fmnist  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "fmnist-ssl"


def export_keep_bn(model: torch.nn.Module, dummy: torch.Tensor, path: Path) -> None:
    model.eval()
    # TrainingMode.PRESERVE with the module in eval mode writes inference-mode BatchNormalization nodes;
    # TrainingMode.EVAL would run the eval peephole pass that folds BN into the preceding Conv.
    torch.onnx.export(
        model, (dummy,), str(path), opset_version=17, dynamo=False,
        input_names=["input"], output_names=["embedding"],
        dynamic_axes={"input": {0: "N"}, "embedding": {0: "N"}},
        training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
    )


def check_graph(path: Path, embed_dim: int) -> dict:
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    n_bn = ops.count("BatchNormalization")
    assert n_bn > 0, "BatchNormalization nodes were folded away"
    assert all(n.attribute == [] or all(a.name != "training_mode" or a.i == 0 for a in n.attribute)
               for n in m.graph.node if n.op_type == "BatchNormalization")
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    assert opset == 17, opset
    inp, out = m.graph.input[0], m.graph.output[0]
    assert inp.name == "input" and out.name == "embedding"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str) and in_dims[1:] == [1, 28, 28], in_dims
    assert isinstance(out_dims[0], str) and out_dims[1:] == [embed_dim], out_dims
    return {"ops": sorted(set(ops)), "batchnorm_nodes": n_bn, "input": in_dims, "output": out_dims}


def ort_vs_torch(model: torch.nn.Module, path: Path) -> float:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for n in (1, 7, 64):
        x = torch.randn(n, 1, 28, 28)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(["embedding"], {"input": x.numpy()})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def toml_value(v) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def write_card(path: Path, onnx_name: str, sha: str, inp: dict, out: dict, pretraining: dict, metrics: dict) -> None:
    lines = [f"onnx = {toml_value(onnx_name)}", f"sha256 = {toml_value(sha)}", "", "[input]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in inp.items()]
    lines += ["", "[output]"] + [f"{k} = {toml_value(v)}" for k, v in out.items()]
    lines += ["", "[pretraining]"] + [f"{k} = {toml_value(v)}" for k, v in pretraining.items()]
    lines += ["", "[metrics]"] + [f"{k} = {toml_value(v)}" for k, v in metrics.items()]
    path.write_text("\n".join(lines) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-eval", action="store_true", help="write zeros as metrics (quick drafts only)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ck = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    cfg = ck["config"]
    enc = fmnist.encoder_from_checkpoint(ck)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out_dir / "encoder.onnx"
    export_keep_bn(enc, torch.zeros(2, 1, 28, 28), onnx_path)
    graph = check_graph(onnx_path, enc.embed_dim)
    diff = ort_vs_torch(enc, onnx_path)
    assert diff < 1e-4, diff
    macs = fmnist.count_macs(enc)
    size = onnx_path.stat().st_size
    assert size < 5 * 1024 * 1024 and 2 * macs <= 30e6
    print(json.dumps({**graph, "ort_vs_torch_max_abs_diff": diff, "mflops": 2 * macs / 1e6, "bytes": size}))

    if args.skip_eval:
        res = {"linear_probe_accuracy": 0.0, "knn20_accuracy": 0.0}
    else:
        xtr, ytr = fmnist.load("train")
        xte, yte = fmnist.load("t10k")
        ftr = evaluate.features_onnx(onnx_path, xtr, args.threads)
        fte = evaluate.features_onnx(onnx_path, xte, args.threads)
        res = evaluate.evaluate(ftr, ytr, fte, yte)
        print(json.dumps(res))

    write_card(
        args.out_dir / "encoder.toml", onnx_path.name, sha256(onnx_path),
        {"name": "input", "layout": "NCHW", "height": 28, "width": 28, "channels": 1,
         "mean": [fmnist.MEAN], "std": [fmnist.STD], "resize": "stretch"},
        {"name": "embedding", "dim": enc.embed_dim},
        {"method": cfg["method"], "data": f"Fashion-MNIST train, {cfg['images']} images, no labels",
         "epochs": ck["epoch"], "seed": cfg["seed"], "augmentations": cfg["augmentations"],
         "batch_size": cfg["batch_size"], "optimizer": f"AdamW lr {cfg['lr']} wd {cfg['weight_decay']}, "
         "1-epoch warmup + cosine",
         **({"temperature": cfg["temperature"]} if cfg["method"] == "simclr" else {}),
         "train_seconds": round(ck["train_seconds"]), "threads": cfg["threads"],
         "architecture": fmnist.describe(enc),
         "mflops_per_sample": round(2 * macs / 1e6, 2), "params": sum(p.numel() for p in enc.parameters())},
        {"linear_probe_accuracy": round(res["linear_probe_accuracy"], 4),
         "knn20_accuracy": round(res["knn20_accuracy"], 4),
         "protocol": "features of encoder.onnx via ONNX Runtime; logistic regression on 60k train "
         "(L2 picked on a 50k/10k train split), scored on 10k test; k-NN k=20 cosine majority vote; "
         "reproduce: python models/evaluate.py --onnx models/fmnist-ssl/encoder.onnx"},
    )
    print(f"wrote {onnx_path} ({size} bytes) and {args.out_dir / 'encoder.toml'}")


if __name__ == "__main__":
    main()
