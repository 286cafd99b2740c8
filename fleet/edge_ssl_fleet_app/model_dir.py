"""Initial arrays from an edge-ssl model directory, by the names the devices use.

`adapter.safetensors` gives `adapter.norm.weight` ... `adapter.fc2.bias`; a softmax
`head.safetensors` gives `head.softmax.weight` and `head.softmax.bias` and its class names
(sent to the devices as `head-classes`). Only F32 tensors are read; sizes are checked
against the file before anything is sliced.
"""

import json
from pathlib import Path

import numpy as np

ADAPTER_ORDER = [
    "adapter.norm.weight",
    "adapter.norm.bias",
    "adapter.fc1.weight",
    "adapter.fc1.bias",
    "adapter.fc2.weight",
    "adapter.fc2.bias",
]
MAX_HEADER = 16 << 20


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors (float32) and metadata of a safetensors file."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER or 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} does not fit the file")
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + n :]
    tensors = {}
    for name, t in header.items():
        if t.get("dtype") != "F32":
            raise ValueError(f"{path}: tensor {name} is {t.get('dtype')}, not F32")
        begin, end = t["data_offsets"]
        shape = [int(d) for d in t["shape"]]
        if not 0 <= begin <= end <= len(body) or end - begin != 4 * int(np.prod(shape)):
            raise ValueError(f"{path}: tensor {name} does not fit the file")
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(shape).copy()
    return tensors, meta


def model_arrays(model_dir: str) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """The adapter (and softmax head) arrays of a model directory, and the head's classes."""
    root = Path(model_dir)
    adapter, _ = read_safetensors(root / "adapter.safetensors")
    missing = [k for k in ADAPTER_ORDER if k not in adapter]
    if missing:
        raise ValueError(f"{root}/adapter.safetensors lacks {missing}")
    arrays = {k: adapter[k] for k in ADAPTER_ORDER}
    classes = None
    head_path = root / "head.safetensors"
    if head_path.is_file():
        head, meta = read_safetensors(head_path)
        if meta.get("head") == "softmax":
            arrays["head.softmax.weight"] = head["softmax.weight"]
            arrays["head.softmax.bias"] = head["softmax.bias"]
            classes = [str(c) for c in json.loads(meta["classes"])]
    return arrays, classes
