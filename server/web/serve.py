"""HttpServer: uvicorn serving the HTTP front door on a thread of the gRPC server's process."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time

import uvicorn

from server.settings import Settings

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0  # seconds start() waits for uvicorn to accept connections


class HttpServer:
    """One uvicorn server on a socket bound at construction (so port 0 is known before start)."""

    def __init__(self, app, settings: Settings, host: str | None = None, port: int | None = None) -> None:
        self.settings = settings
        host = settings.host if host is None else host
        port = settings.http_port if port is None else port
        self._socket = _bind(host, port)
        self.port = self._socket.getsockname()[1]
        self.scheme = "https" if settings.tls_cert is not None else "http"
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=max(1, int(settings.shutdown_grace)),
                                **_tls_options(settings))
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"HttpServer({self.scheme}, port={self.port})"

    def start(self) -> HttpServer:
        """Serve on a daemon thread; returns once connections are accepted (RuntimeError if not)."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="nnsvc-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP server on port {self.port} did not start (see the log)")
            time.sleep(0.01)
        log.info("HTTP (KServe v2 REST, /metrics, dashboard) on %s port %d", self.scheme, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let open requests finish (streams end), and join the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # a stream that would not end: stop waiting for it
                self._server.force_exit = True
                self._thread.join(1.0)
        self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv6 literals included); OSError names the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without it a
    # keep-alive client waited ~40 ms (Nagle against delayed ACKs) for every answer after the first.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc} "
                      "(--http-port / NNSVC_HTTP_PORT, or --no-http)") from None
    return sock


def _tls_options(settings: Settings) -> dict:
    """uvicorn's TLS options from the gRPC TLS settings: the same certificate, key and client CA."""
    if settings.tls_cert is None:
        return {}
    options = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    if settings.tls_client_ca is not None:
        options.update(ssl_ca_certs=str(settings.tls_client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options
