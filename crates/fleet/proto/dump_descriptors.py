"""Dump the Fleet API's protobuf descriptors from the installed flwr wheel.

flwr ships generated `_pb2.py` modules, not `.proto` files. Each module registers its
FileDescriptorProto in the default pool; this script collects the ones the Fleet API
needs (with their transitive imports, in dependency order) into one FileDescriptorSet
that `build.rs` compiles with prost-build's `compile_fds`, so no `protoc` is needed.

Usage: python dump_descriptors.py [OUT]   (default: flwr-<version>.fds.bin beside this file)
"""

import importlib
import sys
from pathlib import Path

import flwr
from google.protobuf import descriptor_pb2, descriptor_pool

ROOTS = [
    "flwr.proto.fleet_pb2",
    "flwr.proto.heartbeat_pb2",
    "flwr.proto.message_pb2",
    "flwr.proto.run_pb2",
    "flwr.proto.fab_pb2",
    "flwr.proto.recorddict_pb2",
    "flwr.proto.error_pb2",
]


def main() -> None:
    version = flwr.__version__ if hasattr(flwr, "__version__") else "unknown"
    try:
        from importlib.metadata import version as dist_version

        version = dist_version("flwr")
    except Exception:  # pylint: disable=broad-except
        pass
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).with_name(f"flwr-{version}.fds.bin")
    )
    pool = descriptor_pool.Default()
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        fd = pool.FindFileByName(name)
        for dep in fd.dependencies:
            visit(dep.name)
        ordered.append(name)

    for module in ROOTS:
        visit(importlib.import_module(module).DESCRIPTOR.name)

    fds = descriptor_pb2.FileDescriptorSet()
    for name in ordered:
        proto = fds.file.add()
        pool.FindFileByName(name).CopyToProto(proto)
    out.write_bytes(fds.SerializeToString(deterministic=True))
    print(f"{out}: {len(ordered)} files: {', '.join(ordered)}")


if __name__ == "__main__":
    main()
