"""PyTorch references for the trainable ONNX graph (`crates/train/src/graph/`).

    .venv/bin/python models/graph_fixtures.py          # writes crates/train/tests/fixtures/graph/

Builds narrow variants of the blocks `adapt --train` imports: a ResNet basic block (with a
strided 1x1 downsample), a MobileNetV3 inverted residual (expand, depthwise, squeeze-excitation
with hardsigmoid, hardswish, project, residual) and a ViT encoder block (LayerNorm, multi-head
attention with softmax, exact-GELU MLP), each followed by the tail the encoders end with (global
average pool + flatten + Linear; for the ViT, final LayerNorm + class token + Linear).

Each block is exported exactly as `models/export.py` exports encoders (opset 17, TorchScript
exporter, dynamic batch axis, BatchNormalization kept, no constant folding), and the ONNX graph is
dumped to `<name>.json`: inputs, outputs, nodes with their attributes in ONNX naming, integer
initializers inline, float initializer names and which of them train. Then one SGD step
(lr 0.1, no momentum, no weight decay) is taken in train mode on a fixed input with the loss
`sum(output * R)` for a fixed random R, and `<name>.safetensors` receives the initial float
initializers (`init/*`), the input (`input/*`), R (`grad_output/*`), the loss (`loss`), the
gradient of every parameter (`grad/*`) and of the input (`grad_input/*`), and every float
initializer after the step, BatchNorm running statistics included (`updated/*`).

`crates/train/tests/graph_parity.rs` replays the step in Rust and compares.

    .venv/bin/python models/graph_fixtures.py --dump .cache/models/resnet18.onnx /tmp/resnet18

dumps a whole exported encoder the same way (`/tmp/resnet18.json` + `.safetensors` with the
initializers, a random batch of 2 and ONNX Runtime's output for it, `ort_output/*`), for the
ignored test `whole_exports_match_onnxruntime` (`EDGE_SSL_GRAPH_DUMPS=/tmp/resnet18,...`).
"""
from __future__ import annotations

import json
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = Path(__file__).resolve().parent.parent / "crates" / "train" / "tests" / "fixtures" / "graph"
LR = 0.1


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock with a downsample, then avgpool + fc."""

    def __init__(self, cin: int, cout: int, classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
        self.fc = nn.Linear(cout, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = F.relu(out + self.downsample(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation as MobileNetV3 configures it."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return s * x


class InvertedResidual(nn.Module):
    """MobileNetV3's block: 1x1 expand, depthwise 3x3, SE, 1x1 project, residual; then the tail
    (1x1 conv + hardswish, avgpool, flatten, Linear)."""

    def __init__(self, c: int, expand: int, classes: int):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, expand, 1, bias=False), nn.BatchNorm2d(expand), nn.Hardswish())
        self.depthwise = nn.Sequential(
            nn.Conv2d(expand, expand, 3, padding=1, groups=expand, bias=False), nn.BatchNorm2d(expand), nn.Hardswish())
        self.se = SqueezeExcitation(expand, 8)
        self.project = nn.Sequential(nn.Conv2d(expand, c, 1, bias=False), nn.BatchNorm2d(c))
        self.last = nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c), nn.Hardswish())
        self.fc = nn.Linear(2 * c, classes)

    def forward(self, x):
        y = self.project(self.se(self.depthwise(self.expand(x)))) + x
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.last(y), 1), 1))


class Attention(nn.Module):
    """timm's ViT attention (fused qkv, explicit softmax)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class EncoderBlock(nn.Module):
    """timm's ViT Block, then the model's final norm, class-token pooling and a Linear head."""

    def __init__(self, dim: int, heads: int, classes: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return self.head(self.norm(x)[:, 0])


def attr_json(a: onnx.AttributeProto):
    v = onnx.helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.TENSOR:
        arr = numpy_helper.to_array(v)
        return {"tensor": {"dtype": "int64" if arr.dtype.kind in "iub" else "float32",
                           "shape": list(arr.shape), "data": arr.ravel().tolist()}}
    if a.type == onnx.AttributeProto.INT:
        return {"int": v}
    if a.type == onnx.AttributeProto.INTS:
        return {"ints": list(v)}
    if a.type == onnx.AttributeProto.FLOAT:
        return {"float": v}
    if a.type == onnx.AttributeProto.FLOATS:
        return {"floats": list(v)}
    if a.type == onnx.AttributeProto.STRING:
        return {"string": v.decode()}
    raise SystemExit(f"attribute {a.name} of type {a.type} is not needed by the importer")


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def graph_json(proto: onnx.ModelProto, floats: dict, ints: dict, trainable: list[str]) -> dict:
    return {
        "inputs": [i.name for i in proto.graph.input if i.name not in floats and i.name not in ints],
        "outputs": [o.name for o in proto.graph.output],
        "nodes": [{"op_type": n.op_type, "name": n.name, "inputs": list(n.input), "outputs": list(n.output),
                   "attrs": {a.name: attr_json(a) for a in n.attribute}} for n in proto.graph.node],
        "int_initializers": {k: {"shape": list(v.shape), "data": v.astype(np.int64).ravel().tolist()}
                             for k, v in sorted(ints.items())},
        "float_initializers": sorted(floats),
        "trainable": sorted(trainable),
    }


def split_initializers(proto: onnx.ModelProto) -> tuple[dict, dict]:
    floats, ints = {}, {}
    for init in proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        (ints if arr.dtype.kind in "iub" else floats)[init.name] = arr
    return floats, ints


def dump(onnx_path: Path, prefix: Path) -> None:
    import onnxruntime as ort
    proto = onnx.load(str(onnx_path))
    floats, ints = split_initializers(proto)
    trainable = [k for k in floats if "running_" not in k and floats[k].dtype == np.float32]
    graph = graph_json(proto, floats, ints, trainable)
    size = proto.graph.input[0].type.tensor_type.shape.dim[2].dim_value or 224
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {graph["inputs"][0]: x})
    tensors = {f"init/{k}": v for k, v in floats.items()}
    tensors["input/input"] = x
    for o, v in zip(graph["outputs"], outs):
        tensors[f"ort_output/{o}"] = v
    prefix.with_suffix(".json").write_text(json.dumps(graph) + "\n")
    write_safetensors(prefix.with_suffix(".safetensors"), tensors)
    print(f"{onnx_path}: {len(graph['nodes'])} nodes, {len(trainable)} trainable initializers -> {prefix}.*")


def make(name: str, model: nn.Module, x: torch.Tensor, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():  # running statistics away from (0, 1) so eval graphs mean something
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
        if isinstance(m, nn.LayerNorm):  # distinct values: the exporter merges equal initializers
            nn.init.uniform_(m.weight, 0.5, 1.5, generator=g)
            nn.init.uniform_(m.bias, -0.2, 0.2, generator=g)
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "block.onnx"
        torch.onnx.export(
            model, (x,), str(path), opset_version=17, dynamo=False,
            input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
            training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        proto = onnx.load(str(path))
    onnx.checker.check_model(proto)

    floats, ints = split_initializers(proto)
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(floats))
    if missing:
        raise SystemExit(f"{name}: parameters not exported as initializers: {missing}")
    graph = graph_json(proto, floats, ints, list(params))

    tensors = {f"init/{k}": v for k, v in floats.items()}
    tensors["input/input"] = x.numpy()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xg = x.clone().requires_grad_(True)
    out = model(xg)
    r = torch.randn(out.shape, generator=g)
    loss = (out * r).sum()
    opt.zero_grad()
    loss.backward()
    tensors["grad_output/output"] = r.numpy()
    tensors["loss"] = np.array([loss.item()], dtype=np.float32)
    tensors["grad_input/input"] = xg.grad.numpy()
    for k, p in params.items():
        tensors[f"grad/{k}"] = p.grad.numpy().copy()
    opt.step()
    state = {k: v.detach() for k, v in model.state_dict().items()}
    for k in floats:
        if k in state:
            tensors[f"updated/{k}"] = state[k].numpy()
        else:  # a constant of the export (e.g. GELU's sqrt(2)): unchanged
            tensors[f"updated/{k}"] = floats[k]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(graph, indent=1) + "\n")
    write_safetensors(OUT / f"{name}.safetensors", tensors)
    ops = sorted({n["op_type"] for n in graph["nodes"]})
    print(f"{name}: {len(graph['nodes'])} nodes ({', '.join(ops)}), loss {loss.item():.6f}")


def main() -> None:
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "--dump":
        dump(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    torch.manual_seed(0)
    make("resnet_basic_block", BasicBlock(8, 16, 5), torch.randn(4, 8, 8, 8), 1)
    make("mobilenet_v3_block", InvertedResidual(8, 24, 5), torch.randn(4, 8, 6, 6), 2)
    make("vit_block", EncoderBlock(16, 2, 5), torch.randn(3, 5, 16), 3)


if __name__ == "__main__":
    main()
