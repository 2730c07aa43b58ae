"""Saving and loading a network: one .npz holds its weights and its architecture (no pickle).

The architecture is MultiLayerNet's config as JSON, stored as a uint8 array named
"architecture", so np.load(..., allow_pickle=False) reads the whole file. Files written before
(W1 b1 W2 b2 only, the architecture kept elsewhere) load given that architecture.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_bytes
from .multilayer import MultiLayerNet
from .network import TwoLayerNet

_ARCH_KEY = "architecture"
_BUFFER_PREFIX = "buffers/"
FORMAT_VERSION = 1


def network_to_bytes(net: MultiLayerNet) -> bytes:
    """Return the .npz bytes of net: params under their names, running statistics under
    buffers/<name>, and the architecture as JSON."""
    arch = {**net.architecture, "format": FORMAT_VERSION}
    arrays = dict(net.params)
    arrays.update({_BUFFER_PREFIX + k: v for k, v in net.buffers.items()})
    arrays[_ARCH_KEY] = np.frombuffer(json.dumps(arch, sort_keys=True).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def network_from_bytes(data: bytes, architecture: dict[str, Any] | None = None) -> MultiLayerNet:
    """Return the network stored in data; `architecture` is needed only for the old format
    (weights alone) and is ignored when the file carries its own."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
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
