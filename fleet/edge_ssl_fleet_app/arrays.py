"""The arrays a federation starts from, and how the ServerApp reports them."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def initial_arrays(path: str) -> dict[str, np.ndarray]:
    """Arrays from an .npz file, or a small 4x3 demo matrix when `path` is empty."""
    if not path:
        return {"w": (np.arange(12, dtype=np.float32).reshape(4, 3) * 0.5 - 1.0)}
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name].astype(np.float32) for name in npz.files}


def to_json(arrays: dict[str, np.ndarray]) -> dict:
    """{name: {"shape": [...], "data": [...]}} with float32 values written as floats."""
    return {
        name: {
            "shape": list(a.shape),
            "data": [float(v) for v in np.asarray(a, dtype=np.float32).ravel()],
        }
        for name, a in arrays.items()
    }


def write_json_atomic(path: str, value: dict) -> None:
    """Write `value` as JSON through a temporary in the same directory, then rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as an .npz through a temporary in the same directory, then rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
