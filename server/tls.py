"""Server TLS: credentials from the PEM files in Settings, checked at start-up with clear errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from server.settings import Settings


def _read_pem(path: Path, what: str) -> bytes:
    """The bytes of a PEM file; ValueError naming the setting when it is unreadable or not PEM."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{what}: {path} is not a PEM file (no '-----BEGIN' line)")
    return data


def _check_pair(settings: Settings) -> None:
    """Let OpenSSL confirm the key matches the certificate and the CA parses, before serving."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except ssl.SSLError as exc:
        raise ValueError(f"tls_cert {settings.tls_cert} and tls_key {settings.tls_key} do not "
                         f"form a usable pair: {exc.reason or exc}") from None
    if settings.tls_client_ca is not None:
        try:
            context.load_verify_locations(cafile=settings.tls_client_ca)
        except ssl.SSLError as exc:
            raise ValueError(f"tls_client_ca {settings.tls_client_ca} holds no usable CA "
                             f"certificate: {exc.reason or exc}") from None
        if not context.cert_store_stats()["x509_ca"]:  # e.g. a client's own certificate given by mistake
            raise ValueError(f"tls_client_ca {settings.tls_client_ca} holds certificates but no CA "
                             "(none has basicConstraints CA:TRUE); give the CA that signed the "
                             "client certificates")


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS (or mutual TLS with tls_client_ca) credentials; None when TLS is off."""
    if settings.tls_cert is None:
        return None
    cert = _read_pem(settings.tls_cert, "tls_cert")
    key = _read_pem(settings.tls_key, "tls_key")
    client_ca = _read_pem(settings.tls_client_ca, "tls_client_ca") if settings.tls_client_ca else None
    _check_pair(settings)
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


def describe(settings: Settings) -> str:
    """How clients must connect, for the start-up log line."""
    if settings.tls_cert is None:
        return "plaintext"
    return "mutual TLS" if settings.tls_client_ca is not None else "TLS"
