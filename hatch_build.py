"""Generate the protobuf/gRPC stubs from proto/ at build time.

Runs for wheels and editable installs, so `pip install .` from a clean clone
works with no manual step. Output goes to cpay_engine/wire/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def generate(root: Path) -> list[Path]:
    from grpc_tools import protoc  # build requirement only

    proto_root = root / "proto"
    out = root / "cpay_engine" / "wire"
    protos = sorted(proto_root.rglob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed to compile proto/")
    generated = []
    # protoc writes cpay/v1/x_pb2.py; flatten into the wire package and make imports relative.
    for path in sorted((out / "cpay" / "v1").glob("*")):
        text = path.read_text()
        text = re.sub(r"^from cpay\.v1 import (\w+)", r"from . import \1", text, flags=re.M)
        target = out / path.name
        target.write_text(text)
        path.unlink()
        generated.append(target)
    for d in (out / "cpay" / "v1", out / "cpay"):
        d.rmdir()
    return generated


class ProtoBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:  # noqa: ARG002
        generate(Path(self.root))


if __name__ == "__main__":
    generate(Path(__file__).parent)
