"""One peer measurement for `edge-ssl bench --peers`: the same model, input shape, threads and timing
loop as the Rust worker (src/bench/worker.rs), through ONNX Runtime's Python API or PyTorch eager.

Prints one JSON object on its last stdout line with the keys of the Rust `Measurement`, so both sides
are read, ratioed and charted by one piece of code. Run by hand:

    .venv/bin/python benches/peers/peer_bench.py --engine onnxruntime-python \
        --onnx models/fmnist-ssl/encoder.onnx --shape 1,1,28,28 --threads 2 --seconds 2

Cold start here is session creation (ORT) or model construction + weight load + eval (PyTorch) plus the
first inference; interpreter start and imports are excluded, as process start is on the Rust side.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

MIN_ITERS = 5  # as src/bench/worker.rs


def status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def synthetic_input(shape):
    """Same numbers as the Rust worker's `synthetic_input`: a multiplicative hash of the flat index."""
    import numpy as np
    i = np.arange(int(np.prod(shape)), dtype=np.uint64)
    h = (i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    return ((h >> np.uint64(8)).astype(np.float32) / np.float32(1 << 24) * 2 - 1).reshape(shape)


def ort_runner(args, x):
    import onnxruntime as ort
    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(args.onnx), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def call():
        return sess.run(None, {name: x})[0]

    return t0, call, f"onnxruntime {ort.__version__} CPUExecutionProvider ({args.threads} intra-op threads)"


def torch_model(arch: str, repo: Path):
    import torch
    if arch == "fmnist-ssl":
        sys.path.insert(0, str(repo / "models"))
        import fmnist
        enc = fmnist.Encoder()
        ck = repo / ".cache/fmnist-ssl/simclr/checkpoint.pt"
        if ck.is_file():
            enc.load_state_dict(torch.load(ck, map_location="cpu", weights_only=False)["encoder"])
            return enc, "models/fmnist.py Encoder, weights from .cache/fmnist-ssl/simclr/checkpoint.pt"
        return enc, "models/fmnist.py Encoder, random weights (no checkpoint; latency does not depend on them)"
    sys.path.insert(0, str(repo / "models"))
    import export  # models/export.py: the same builder that wrote the ONNX
    _, features = export.build(arch)
    return features, f"{arch} from models/export.py build(), random init"


def torch_runner(args, x):
    import torch
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model, what = torch_model(args.torch_arch, args.repo)
    model.eval()
    xt = torch.from_numpy(x)

    def call():
        with torch.inference_mode():
            return model(xt)

    return t0, call, f"torch {torch.__version__} eager, {args.threads} threads, {what}"


def pictures(root: Path) -> list[Path]:
    """.jpg/.jpeg/.png under root, recursive, hidden entries skipped, sorted — as src/bench/end_to_end.rs."""
    out = []
    stack = [root]
    while stack:
        d = stack.pop()
        for e in d.iterdir():
            if e.name.startswith("."):
                continue
            if e.is_dir():
                stack.append(e)
            elif e.is_file() and e.suffix.lower() in (".jpg", ".jpeg", ".png"):
                out.append(e)
    return sorted(out)


def e2e_runner(args, _x):
    """Pillow decode + resize by the card (bilinear, as the Rust triangle filter) + numpy normalize +
    ONNX Runtime + the same fixed 10-class linear head + argmax, over batches cycling through the folder."""
    import numpy as np
    from PIL import Image
    import onnxruntime as ort
    spec = json.loads(args.input_spec)
    files = pictures(args.images)
    if not files:
        sys.exit(f"error: {args.images}: no .jpg/.jpeg/.png files")
    w, h, c = spec["width"], spec["height"], spec["channels"]
    mean = np.array(spec["mean"], np.float32).reshape(-1, 1, 1)
    std = np.array(spec["std"], np.float32).reshape(-1, 1, 1)
    i, j = np.meshgrid(np.arange(args.embedding_dim), np.arange(10), indexing="ij")
    head = (((i * 31 + j * 17) % 13) / 13.0 - 0.5).astype(np.float32)
    batch = int(args.shape.split(",")[0])
    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(str(args.onnx), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    state = {"next": 0}

    def load(path):
        img = Image.open(path).convert("L" if c == 1 else "RGB")
        if spec["resize"] == "center-crop":
            scale = max(w / img.width, h / img.height)
            rw, rh = max(round(img.width * scale), w), max(round(img.height * scale), h)
            img = img.resize((rw, rh), Image.BILINEAR)
            left, top = (rw - w) // 2, (rh - h) // 2
            img = img.crop((left, top, left + w, top + h))
        else:
            img = img.resize((w, h), Image.BILINEAR)
        a = np.asarray(img, dtype=np.float32) / 255.0
        a = a[None] if c == 1 else a.transpose(2, 0, 1)
        return (a - mean) / std

    def call():
        imgs = []
        for _ in range(batch):
            imgs.append(load(files[state["next"] % len(files)]))
            state["next"] += 1
        x = np.stack(imgs).astype(np.float32)
        if spec["layout"] == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        emb = sess.run(None, {name: np.ascontiguousarray(x)})[0]
        return (emb.reshape(batch, -1) @ head).argmax(1)

    return t0, call, (f"Pillow {Image.__version__} + onnxruntime {ort.__version__} ({args.threads} intra-op threads) "
                      f"over {len(files)} pictures in {args.images}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True,
                    choices=["onnxruntime-python", "pytorch-eager", "pillow-onnxruntime-e2e"])
    ap.add_argument("--onnx", type=Path, required=True)
    ap.add_argument("--shape", required=True, help="input shape with batch, e.g. 8,3,224,224")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--torch-arch", help="fmnist-ssl or a torchvision/timm name (pytorch-eager)")
    ap.add_argument("--images", type=Path, help="picture folder (pillow-onnxruntime-e2e)")
    ap.add_argument("--input-spec", help="the card's [input] table as JSON (pillow-onnxruntime-e2e)")
    ap.add_argument("--embedding-dim", type=int, default=0)
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    args = ap.parse_args()
    shape = [int(d) for d in args.shape.split(",")]

    import numpy as np  # noqa: F401  (imports before the baseline, as the Rust binary is loaded)
    if args.engine == "onnxruntime-python":
        import onnxruntime  # noqa: F401
        runner = ort_runner
    elif args.engine == "pillow-onnxruntime-e2e":
        if not (args.images and args.input_spec and args.embedding_dim):
            sys.exit("error: pillow-onnxruntime-e2e needs --images, --input-spec and --embedding-dim")
        import onnxruntime  # noqa: F401
        from PIL import Image  # noqa: F401
        runner = e2e_runner
    else:
        if not args.torch_arch:
            sys.exit("error: pytorch-eager needs --torch-arch")
        import torch  # noqa: F401
        runner = torch_runner
    x = synthetic_input(shape)
    baseline = status_mb("VmRSS:")

    t0, call, describe = runner(args, x)
    call()
    cold_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(args.warmup):
        call()
    samples = []
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if args.iters is not None:
            if len(samples) >= args.iters:
                break
        elif len(samples) >= MIN_ITERS and elapsed >= args.seconds:
            break
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1e3)
    wall = time.perf_counter() - start

    s = sorted(samples)
    rank = lambda p: s[min(max(int(-(-p / 100 * len(s) // 1)), 1), len(s)) - 1]  # nearest rank, as Rust
    print(json.dumps({
        "engine": args.engine,
        "describe": describe,
        "threads": args.threads,
        "batch": shape[0],
        "cold_start_ms": cold_ms,
        "iterations": len(samples),
        "latency_ms": {"p50": rank(50), "p90": rank(90), "p99": rank(99),
                       "mean": sum(s) / len(s), "min": s[0]},
        "samples_per_s": shape[0] * len(samples) / wall if wall > 0 else 0.0,
        "peak_rss_mb": status_mb("VmHWM:"),
        "baseline_rss_mb": baseline,
    }))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # one clear line for the Rust side to quote
        sys.exit(f"error: {type(e).__name__}: {e}")
