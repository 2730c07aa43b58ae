"""Saving and loading a network: one .npz holds its weights and its architecture (no pickle).

The architecture is MultiLayerNet's config as JSON, stored as a uint8 array named
"architecture", so np.load(..., allow_pickle=False) reads the whole file. Files written before
(W1 b1 W2 b2 only, the architecture kept elsewhere) load given that architecture. A file may
also carry caller metadata (JSON, a uint8 array named "metadata") that nncore does not read:
read_network_file returns it beside the network.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ._formats import Budget, DatasetFormatError, _read_npz
from ._io import atomic_write_bytes
from .multilayer import MultiLayerNet, parameter_count
from .network import TwoLayerNet

_ARCH_KEY = "architecture"
_META_KEY = "metadata"
_BUFFER_PREFIX = "buffers/"
FORMAT_VERSION = 1
# What zipfile and zlib raise on a damaged or hostile archive (an encrypted member: RuntimeError).
_ZIP_ERRORS = (OSError, EOFError, KeyError, ValueError, NotImplementedError, RuntimeError, OverflowError,
               zipfile.BadZipFile, zlib.error, struct.error)


def _json_array(value: Any) -> np.ndarray:
    """A JSON-serialisable value as the uint8 array of its UTF-8 text."""
    return np.frombuffer(json.dumps(value, sort_keys=True).encode(), dtype=np.uint8)


def network_to_bytes(net: MultiLayerNet, metadata: dict[str, Any] | None = None) -> bytes:
    """Return the .npz bytes of net: params under their names, running statistics under
    buffers/<name>, the architecture as JSON, and `metadata` (JSON) if given."""
    arch = {**net.architecture, "format": FORMAT_VERSION}
    arrays = dict(net.params)
    arrays.update({_BUFFER_PREFIX + k: v for k, v in net.buffers.items()})
    arrays[_ARCH_KEY] = _json_array(arch)
    if metadata is not None:
        arrays[_META_KEY] = _json_array(metadata)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def network_from_bytes(data: bytes, architecture: dict[str, Any] | None = None) -> MultiLayerNet:
    """Return the network stored in data; `architecture` is needed only for the old format
    (weights alone) and is ignored when the file carries its own."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.pop(_META_KEY, None)
    stored = arrays.pop(_ARCH_KEY, None)
    if stored is not None:
        architecture = json.loads(stored.tobytes().decode())
    elif architecture is None:
        raise ValueError("the file has no architecture (an old weights file): pass its architecture")
    return network_from_arrays(architecture, arrays)


def network_from_arrays(arch: dict[str, Any], arrays: dict[str, np.ndarray]) -> MultiLayerNet:
    """Return the network of architecture `arch` (a network's config) holding copies of arrays."""
    hidden = arch.get("hidden_sizes") or [arch["hidden_size"]]
    dropout = float(arch.get("dropout", 0.0))
    plain = len(hidden) == 1 and not (arch.get("batch_norm") or dropout or arch.get("weight_decay"))
    if plain:  # the text's class for the text's network, as build_network makes it
        net = TwoLayerNet.from_params(arrays, activation=arch["activation"], dtype=arch["dtype"])
    else:
        net = MultiLayerNet(arch["input_size"], hidden, arch["output_size"], arch["activation"],
                            weight_decay_lambda=float(arch.get("weight_decay", 0.0)), use_dropout=dropout > 0,
                            dropout_ratio=dropout, use_batchnorm=bool(arch.get("batch_norm")), dtype=arch["dtype"])
        _fill(net, arrays)
    if (net.input_size, list(net.hidden_sizes), net.output_size) != (arch["input_size"], list(hidden),
                                                                       arch["output_size"]):
        raise ValueError(f"weight shapes {({k: v.shape for k, v in arrays.items()})} do not match the "
                         f"architecture {arch['input_size']}-{hidden}-{arch['output_size']}")
    net.weight_init = arch.get("weight_init", net.weight_init)
    net.weight_init_std = float(arch.get("weight_init_std", net.weight_init_std))
    return net


def _fill(net: MultiLayerNet, arrays: dict[str, np.ndarray]) -> None:
    """Copy arrays into net's params and buffers in place, checking names and shapes."""
    targets = dict(net.params)
    targets.update({_BUFFER_PREFIX + k: v for k, v in net.buffers.items()})
    if set(arrays) != set(targets):
        raise ValueError(f"arrays {sorted(arrays)} do not match the architecture's {sorted(targets)}")
    for name, target in targets.items():
        if arrays[name].shape != target.shape:
            raise ValueError(f"array {name} has shape {arrays[name].shape}; the architecture needs {target.shape}")
        np.copyto(target, arrays[name], casting="same_kind")


def save_network(net: MultiLayerNet, path: str | os.PathLike) -> Path:
    """Write net to path atomically (temporary file, fsync, rename) and return the path."""
    path = Path(path)
    atomic_write_bytes(path, network_to_bytes(net))
    return path


def load_network(path: str | os.PathLike, architecture: dict[str, Any] | None = None) -> MultiLayerNet:
    """Return the network saved at path (see network_from_bytes for `architecture`)."""
    return network_from_bytes(Path(path).read_bytes(), architecture)


def read_network_file(path: str | os.PathLike, max_bytes: int) -> tuple[MultiLayerNet, dict[str, Any]]:
    """Return the network in an untrusted file and its metadata ({} if none); ValueError naming
    the problem otherwise. Nothing is unpickled, no array is allocated past what its member
    declares (at most `max_bytes` decompressed in all), and the architecture must account for
    every array before a network of its size is built."""
    try:
        arrays = _read_npz(Path(path), Budget(max_bytes))
    except DatasetFormatError:
        raise
    except _ZIP_ERRORS as exc:
        raise DatasetFormatError(f"not an .npz network file ({type(exc).__name__}: {exc})") from None
    arch, metadata = _json_member(arrays, _ARCH_KEY), _json_member(arrays, _META_KEY)
    if arch is None:
        raise DatasetFormatError("the file has no architecture: it is not an nncore network file")
    params = [v for k, v in arrays.items() if not k.startswith(_BUFFER_PREFIX)]
    for name, array in arrays.items():
        if array.dtype.kind != "f" or not np.isfinite(array).all():
            raise DatasetFormatError(f"array {name} must hold finite floats; got {array.dtype}")
    try:
        hidden = [int(h) for h in (arch.get("hidden_sizes") or [arch["hidden_size"]])]
        expected = parameter_count(int(arch["input_size"]), hidden, int(arch["output_size"]),
                                   bool(arch.get("batch_norm")))
        if expected != sum(int(a.size) for a in params):
            raise ValueError(f"the architecture {arch['input_size']}-{hidden}-{arch['output_size']} has "
                             f"{expected} parameters; the file's arrays hold {sum(a.size for a in params)}")
        return network_from_arrays(arch, arrays), (metadata or {})
    except (KeyError, TypeError, AttributeError, OverflowError) as exc:  # Overflow: JSON's Infinity as a size
        raise DatasetFormatError(f"the architecture is incomplete or malformed ({type(exc).__name__}: "
                                 f"{exc})") from None


def _json_member(arrays: dict[str, np.ndarray], key: str) -> dict[str, Any] | None:
    """Pop a uint8 JSON member that must hold an object (None when absent)."""
    stored = arrays.pop(key, None)
    if stored is None:
        return None
    try:
        if stored.dtype != np.uint8 or stored.ndim != 1:
            raise ValueError(f"dtype {stored.dtype}, {stored.ndim} dimensions")
        value = json.loads(stored.tobytes().decode())
    except (ValueError, RecursionError) as exc:  # Recursion: JSON nested deeper than Python's stack
        raise DatasetFormatError(f"member {key!r} is not UTF-8 JSON text ({type(exc).__name__}: {exc})") from None
    if not isinstance(value, dict):
        raise DatasetFormatError(f"member {key!r} must be a JSON object")
    return value
