"""Regenerate the committed Python stubs from protos/nn_service.proto and protos/grpc_predict_v2.proto.

Run from anywhere: ``python -m protos.generate``. The stubs are generated with
the proto path rooted at the repository, so they import each other as
``protos.nn_service_pb2`` without any rewriting of generated code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTOS = ("protos/nn_service.proto", "protos/grpc_predict_v2.proto")  # nnservice.v1, KServe v2
ROOT = Path(__file__).resolve().parent.parent
GENERATED = tuple(f"{Path(proto).stem}{suffix}" for proto in PROTOS
                  for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))


def generate(out_dir: Path = ROOT) -> list[Path]:
    """Run protoc on the schemas, writing the stubs below ``out_dir/protos``."""
    from grpc_tools import protoc  # build-time tool, not a runtime dependency

    import importlib.resources

    include = str(importlib.resources.files("grpc_tools") / "_proto")
    (out_dir / "protos").mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(ROOT / proto) for proto in PROTOS),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(PROTOS)}")
    return [out_dir / "protos" / name for name in GENERATED]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    for path in generate():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
