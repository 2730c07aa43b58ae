"""nnservice's HTTP front door: KServe v2 REST, /metrics and the dashboard, over the same data plane.

FastAPI on uvicorn, in the gRPC server's process (server.web.serve.HttpServer runs it on a thread);
every route translates to server.dataplane.DataPlane, never a second implementation.
"""

from server.web.app import create_app
from server.web.serve import HttpServer

__all__ = ["HttpServer", "create_app"]
