"""Builders of small dataset files in every upload format, and of the bad ones the server refuses."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile

import numpy as np

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def blobs(n: int = 60, classes: int = 3, shape: tuple[int, ...] = (4, 4), seed: int = 0):
    """(x, t): `classes` well-separated uint8 clusters a network learns in one epoch."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) % classes
    centres = rng.integers(0, 256, size=(classes, *shape))
    x = np.clip(centres[t] + rng.integers(-10, 11, size=(n, *shape)), 0, 255).astype(np.uint8)
    return x, t.astype(np.int64)


def npz_bytes(**arrays) -> bytes:
    """An .npz of the arrays as given (object arrays pickled, as numpy does by default)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def split_arrays(n_train: int = 60, n_test: int = 30, classes: int = 3, shape=(4, 4)) -> dict:
    """x_train, t_train, x_test, t_test from the same clusters."""
    x, t = blobs(n_train + n_test, classes, shape)
    return {"x_train": x[:n_train], "t_train": t[:n_train], "x_test": x[n_train:], "t_test": t[n_train:]}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array."""
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def idx_members(arrays: dict, gz: bool = True) -> dict[str, bytes]:
    """The four MNIST-named IDX members of a split dataset, gzip-compressed if `gz`."""
    members = {}
    for name, key in zip(IDX_NAMES, ("x_train", "t_train", "x_test", "t_test")):
        data = idx_bytes(arrays[key])
        members[name + (".gz" if gz else "")] = gzip.compress(data) if gz else data
    return members


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A .tar.gz holding `members`, plus symbolic links name -> target."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def csv_bytes(x: np.ndarray, t: np.ndarray, header: bool = True) -> bytes:
    """A CSV with the label first, then the flattened features."""
    rows = [",".join(["label"] + [f"f{i}" for i in range(x[0].size)])] if header else []
    rows += [",".join([str(int(label))] + [str(v) for v in row.ravel()]) for row, label in zip(x, t)]
    return ("\n".join(rows) + "\n").encode()


def zip_bomb(size: int) -> bytes:
    """A zip of the four IDX names whose train images inflate to `size` zero bytes."""
    members = idx_members(split_arrays(), gz=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name.startswith("train-images"):
                with archive.open(name, "w", force_zip64=True) as member:
                    block = bytes(1 << 20)
                    for _ in range(size >> 20):
                        member.write(block)
            else:
                archive.writestr(name, data)
    return buffer.getvalue()
