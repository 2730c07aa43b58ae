# nnservice: the gRPC training and inference server.
#
#   docker build -t nnservice .
#   podman build --format docker --network=host \
#     --build-arg BASE_IMAGE=localhost/debian-python:bookworm -t nnservice .
#
# The base image is a build argument so that the same file builds on a Docker host
# (python:3.12-slim) and on machines without a registry (a local Debian image with python3).
ARG BASE_IMAGE=python:3.12-slim

# ---- build: install the project and its runtime dependencies into /opt/venv ----
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY nncore ./nncore
COPY server ./server
COPY client ./client
# A regular (non-editable) install with the `fast`, `dask` and `onnx` extras only: no pytest,
# grpcio-tools or plotting libraries. `fast` (numba) is there because training is the
# service's heavy work: its fused kernels make an Adam update 4-6x faster (docs/performance.md)
# for about 210 MB of numba + llvmlite; the venv is read-only to the server, so each server
# process compiles the kernels (about 1 s) on its first training job. `dask` (distributed)
# lets the same image run the server, a Dask scheduler and Dask workers (compose profile
# "dask"). `onnx` makes `nnctl model export ID --format onnx` work against the image (without
# it the server answers FAILED_PRECONDITION). setuptools only lives in pip's temporary build environment; pip itself is dropped
# so the runtime venv holds nothing but the service and what it imports.
RUN /opt/venv/bin/pip install '.[fast,dask,onnx]' \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools wheel

# ---- runtime: the venv (MNIST inside it, in nncore/data/mnist), a non-root user, two volumes ----
FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN groupadd --gid 10001 nnservice \
 && useradd --uid 10001 --gid nnservice --no-create-home \
      --home-dir /var/lib/nnservice --shell /usr/sbin/nologin nnservice \
 && mkdir -p /var/lib/nnservice /var/lib/nnservice-data \
 && chown nnservice:nnservice /var/lib/nnservice /var/lib/nnservice-data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NNSVC_HOST=0.0.0.0 \
    NNSVC_PORT=50051 \
    NNSVC_STATE_DIR=/var/lib/nnservice \
    NNSVC_DATA_DIR=/var/lib/nnservice-data \
    NNSVC_ALLOW_DOWNLOAD=true
# Job records and models; on-disk datasets such as fashion-mnist/ (downloaded there when
# missing, or filled by you on a machine without internet). MNIST needs neither: it is embedded.
VOLUME ["/var/lib/nnservice", "/var/lib/nnservice-data"]
WORKDIR /var/lib/nnservice
USER nnservice
EXPOSE 50051
# HTTP: the dashboard at /, KServe v2 REST, /metrics (--http-port / NNSVC_HTTP_PORT, --no-http).
EXPOSE 8080
# Asks the gRPC health service itself, so "healthy" means the server answers RPCs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; r = g.HealthStub(grpc.insecure_channel('127.0.0.1:' + os.environ.get('NNSVC_PORT', '50051'))).Check(h.HealthCheckRequest(service='nnservice.v1.NNService'), timeout=4); sys.exit(r.status != h.HealthCheckResponse.SERVING)"]
# exec form: nn-server is PID 1 and gets SIGTERM itself, so `docker stop` drains cleanly.
CMD ["nn-server"]
