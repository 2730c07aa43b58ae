"""nnservice's gRPC server: settings, job manager, model store and the NNService servicer."""

from server.app import NNServer, create_server
from server.settings import Settings

__all__ = ["NNServer", "Settings", "create_server"]
