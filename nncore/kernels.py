"""Which kernels run nncore's element-wise work: plain NumPy (the reference) or fused numba ones.

The NumPy code in optimizers.py and _step.py is the teaching code and always works. Where numba
is installed (`pip install nnservice[fast]`), its fused kernels (nncore/_numba_kernels.py) take
over the optimizers' updates, bias + activation, the activation backward, batch norm's forward
and backward and softmax with cross-entropy: one pass over each array instead of NumPy's two to
ten (three or four passes for batch norm instead of NumPy's ten to twenty). Chosen when nncore is
imported, from NNCORE_KERNELS: "auto" (default: numba if installed, else NumPy), "numba"
(an ImportError if it is missing) or "numpy" (numba is never imported).

With "auto", numba itself is imported by the first fusable() call, i.e. the first training step,
not by `import nncore`: importing numba (and LLVM with it) takes about 60 MB of resident memory
and 0.3 s, which a process that only predicts or serves (nn-server with its jobs on Dask
workers, an inference replica) never needs. Should that import fail, NumPy's kernels are used.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import numpy as np

#: The environment variable read at import.
ENV_VAR = "NNCORE_KERNELS"
#: Allowed values of ENV_VAR and use(); "auto" is the default.
CHOICES = ("auto", "numba", "numpy")
#: The choice when ENV_VAR is unset or empty.
DEFAULT = "auto"
#: dtypes the fused kernels are used for; anything else takes the NumPy path.
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _Deferred:
    """Stands in `fast` for numba's kernels until the first fusable() imports them ("auto")."""

    def __repr__(self) -> str:
        return "<nncore numba kernels, imported on first use>"


_DEFERRED = _Deferred()


def _load(choice: str, defer: bool = False) -> ModuleType | _Deferred | None:
    """Return the numba kernel module for choice, or None for plain NumPy; with `defer`, "auto"
    with numba installed returns the stand-in whose first fusable() imports it (module docstring)."""
    choice = (choice or DEFAULT).strip().lower()
    if choice not in CHOICES:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(CHOICES)}; got {choice!r}")
    if choice == "numpy":
        return None
    if defer and choice == "auto" and importlib.util.find_spec("numba") is not None:
        return _DEFERRED
    try:
        from . import _numba_kernels
    except ImportError as exc:
        if choice == "numba":
            raise ImportError(f"{ENV_VAR}=numba but numba cannot be imported ({exc}); "
                              "install nnservice[fast] or use auto / numpy") from exc
        return None
    return _numba_kernels


#: The fused kernel module in use, or None when NumPy does everything (before the first
#: fusable() of an "auto" choice, a stand-in for the module). Process-wide on purpose: it is a
#: property of the installation, like NumPy's BLAS, set once at import or by use().
fast: ModuleType | _Deferred | None = _load(os.environ.get(ENV_VAR, DEFAULT), defer=True)


def _resolve() -> ModuleType | None:
    """Import the deferred kernels now (NumPy's, None, if that fails); return the module in use."""
    global fast
    if fast is _DEFERRED:
        fast = _load("auto")
    return fast


def use(choice: str) -> str:
    """Switch the whole process to `choice` (one of CHOICES; "auto" defers numba's import as at
    import); return the backend now in use."""
    global fast
    fast = _load(choice, defer=True)
    return backend()


def backend() -> str:
    """Return "numba" or "numpy": the kernels in use (numba's also before their deferred import)."""
    return "numpy" if fast is None else "numba"


def fusable(*arrays: np.ndarray) -> bool:
    """Whether the fused kernels may take these arrays: numba in use, one float dtype, C order."""
    if fast is None or (fast is _DEFERRED and _resolve() is None):
        return False
    dtype = arrays[0].dtype
    if dtype not in _FLOATS:
        return False
    for a in arrays:  # a plain loop: called several times a step, all(genexpr) costs 3x as much
        if a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return True
