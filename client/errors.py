"""The one exception type the SDK raises for failed RPCs, and the context that raises it."""
from __future__ import annotations

import contextlib

import grpc


class NNServiceError(Exception):
    """A failed RPC: the gRPC status code, the server's message and the method called."""

    def __init__(self, code: grpc.StatusCode, message: str, method: str = "") -> None:
        super().__init__(code, message, method)
        self.code = code
        self.message = message
        self.method = method

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, method: str) -> "NNServiceError":
        """Wrap a grpc.RpcError raised by `method` (a call object carries code() and details())."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "", method)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name

    def __repr__(self) -> str:
        return f"NNServiceError(code={self.code.name}, message={self.message!r}, method={self.method!r})"


#: What to do when Pillow or matplotlib is missing.
INSTALL_HINT = "install the images extra: pip install 'nnservice[images]'"


class MissingExtraError(RuntimeError):
    """An optional dependency (Pillow, matplotlib) is not installed."""

    def __init__(self, package: str) -> None:
        super().__init__(f"{package} is not installed; {INSTALL_HINT}")
        self.package = package


@contextlib.contextmanager
def rpc_errors(method: str):
    """Turn any grpc.RpcError raised inside into NNServiceError naming `method`."""
    try:
        yield
    except grpc.RpcError as error:
        raise NNServiceError.from_rpc_error(error, method) from None
