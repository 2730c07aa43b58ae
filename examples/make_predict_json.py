"""Write examples/predict_digit.json: one MNIST test image as a grpcurl Predict request.

    python3 examples/make_predict_json.py                 # test image 0 (a 7)
    python3 examples/make_predict_json.py --index 42 --out /tmp/digit.json

The request's model_id is the placeholder MODEL_ID, which examples/grpcurl.sh fills in with
sed. Pixels are scaled to [0, 1] and written one image row (28 values) per line, so the digit
can be seen in the file. Needs only the standard library.
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
SIDE = 28


def default_mnist_dir() -> Path:
    """NNSVC_MNIST_DIR if set, else the copy shipped in the repository (nncore/data/mnist)."""
    env = os.environ.get("NNSVC_MNIST_DIR")
    return Path(env) if env else ROOT / "nncore" / "data" / "mnist"


def read_test_image(mnist_dir: Path, index: int) -> tuple[bytes, int]:
    """The 784 pixel bytes and the label of test image `index`."""
    with gzip.open(mnist_dir / IMAGES, "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051 or (rows, cols) != (SIDE, SIDE):
            raise ValueError(f"{mnist_dir / IMAGES} is not an MNIST image file")
        if not 0 <= index < count:
            raise ValueError(f"--index must be in [0, {count - 1}], got {index}")
        f.seek(16 + index * SIDE * SIDE)
        pixels = f.read(SIDE * SIDE)
    with gzip.open(mnist_dir / LABELS, "rb") as f:
        magic, count = struct.unpack(">II", f.read(8))
        if magic != 2049:
            raise ValueError(f"{mnist_dir / LABELS} is not an MNIST label file")
        f.seek(8 + index)
        label = f.read(1)[0]
    return pixels, label


def request_json(pixels: bytes) -> str:
    """A PredictRequest in grpcurl's JSON, one image row per line."""
    rows = []
    for r in range(SIDE):
        values = (_fmt(p / 255.0) for p in pixels[r * SIDE:(r + 1) * SIDE])
        rows.append("      " + ", ".join(values))
    return (
        f'{{\n  "model_id": "MODEL_ID",\n  "input": {{\n    "shape": [1, {SIDE * SIDE}],\n'
        '    "float_data": [\n'
        + ",\n".join(rows)
        + "\n    ]\n  }\n}\n"
    )


def _fmt(value: float) -> str:
    """Four decimals, no trailing zeros: compact and exact enough for a pixel."""
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and write the request file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, default=default_mnist_dir())
    parser.add_argument("--index", type=int, default=0, help="test image index (default 0)")
    parser.add_argument("--out", type=Path, default=ROOT / "examples" / "predict_digit.json")
    args = parser.parse_args(argv)
    pixels, label = read_test_image(args.mnist_dir, args.index)
    args.out.write_text(request_json(pixels))
    print(f"wrote {args.out}: MNIST test image {args.index}, label {label}")


if __name__ == "__main__":
    main()
