"""nnservice's gRPC server: settings, job manager, model store, the data plane, and its servicers (nnservice.v1, KServe v2)."""

from server.app import NNServer, create_server
from server.settings import Settings

__all__ = ["NNServer", "Settings", "create_server"]
