# nnservice: one command to run the service, one to test it.
# Every recipe calls the venv's own binaries (.venv/bin/...), so no activated shell is needed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 50051
STATE_DIR ?= ./state
# Marks a finished install; rebuilt when pyproject.toml changes.
STAMP := $(VENV)/.nnservice-installed
# tritonclient pins protobuf < 7 (nnservice uses 7), so the KServe interoperability test runs it
# from a venv of its own; `pip index versions tritonclient` lists the releases.
TRITON_VENV := .venv-triton
TRITONCLIENT_VERSION := 2.73.0
TRITON_STAMP := $(TRITON_VENV)/.tritonclient-$(TRITONCLIENT_VERSION)-grpc-http

.DEFAULT_GOAL := help
.PHONY: help venv triton-venv serve test test-container proto bench bench-serve bench-fashion bench-upload bench-rest bench-metrics clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv and install the project with its dev extra (pytest, grpcurl, ...)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

triton-venv: $(TRITON_STAMP) ## Create .venv-triton with tritonclient[grpc,http] for the KServe interoperability tests

$(TRITON_STAMP):
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet 'tritonclient[grpc,http]==$(TRITONCLIENT_VERSION)' numpy
	touch $@

# MNIST: $NNSVC_MNIST_DIR if set (the server reads it itself), else the copy embedded in
# nncore/data/mnist, so a fresh clone trains with no network and no other folder.
serve: venv ## Set up and run nn-server on port 50051 (state in ./state)
	@if [ -n "$${NNSVC_MNIST_DIR:-}" ]; then \
	  echo "make serve: MNIST from NNSVC_MNIST_DIR=$$NNSVC_MNIST_DIR"; \
	else \
	  echo "make serve: MNIST from the copy embedded in nncore/data/mnist"; \
	fi; \
	echo "make serve: nn-server on port $(PORT), state in $(STATE_DIR) (Ctrl-C stops it)"; \
	echo "make serve: dashboard, KServe REST and /metrics on http://127.0.0.1:$${NNSVC_HTTP_PORT:-8080}/"; \
	exec $(BIN)/nn-server --port $(PORT) --state-dir $(STATE_DIR)

test: venv triton-venv ## Run every test except the container one (the command CI runs)
	$(BIN)/pytest -m "not container"

test-container: venv ## Build the image with podman and test it (see ../shared/docs/containers.md)
	test -x $(BIN)/podman-compose || $(BIN)/python -m pip install --quiet podman-compose
	$(BIN)/pytest -m container tests/e2e -v

proto: venv ## Regenerate the committed gRPC stubs from protos/*.proto (nnservice.v1, KServe v2)
	$(BIN)/python -m protos.generate

bench: venv ## Print the training benchmark figures (minutes; see docs/performance.md)
	@test -f bench/train_mnist.py || { echo "make bench: bench/train_mnist.py is not there yet" >&2; exit 1; }
	@echo "make bench: MNIST from $${NNSVC_MNIST_DIR:-the copy embedded in nncore/data/mnist}"; \
	$(BIN)/python bench/train_mnist.py

bench-serve: venv ## Print the serving benchmark figures (about 9 minutes; see docs/performance.md)
	$(BIN)/python bench/serve.py --runs 3 $${NNSVC_MNIST_DIR:+--mnist-dir "$$NNSVC_MNIST_DIR"}

bench-fashion: venv ## Print the Fashion-MNIST figures: Train on a real server, accuracy within 60 s (minutes)
	$(BIN)/python bench/fashion.py

bench-upload: venv ## Print the dataset upload figures and the Fashion-MNIST upload target (about 2 minutes)
	$(BIN)/python bench/upload.py --runs 3

bench-metrics: venv ## Print the metrics overhead figures: Predict with metrics on vs off, /metrics with 1,000 jobs (about a minute)
	$(BIN)/python bench/metrics_overhead.py
bench-rest: venv ## Print KServe REST infer vs gRPC Predict latency, and what the JSON costs (about a minute)
	$(BIN)/python bench/serve_rest.py

clean: ## Remove caches (keeps .venv and ./state)
	rm -rf .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
