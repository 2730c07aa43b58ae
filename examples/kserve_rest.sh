#!/usr/bin/env bash
# The KServe v2 REST API with curl (README "HTTP", docs/kserve.md "REST").
# Needs a running server (make serve: gRPC on 50051, HTTP on 8080) and grpcurl on PATH for the
# training step; tests/e2e/test_kserve_rest_curl.py runs every step against a real server.
set -euo pipefail

# 1. Train a small model over gRPC and wait for it; a model's KServe name is its id
JOB=$(grpcurl -plaintext -d '{"hidden_size": 32, "epochs": 1, "train_size": 5000, "seed": 1}' 127.0.0.1:50051 nnservice.v1.NNService/Train | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
grpcurl -plaintext -d "{\"job_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/WatchJob > /dev/null && echo "JOB=$JOB"

# 2. Is the server ready? 200 {"ready":true}; 503 {"ready":false} while it drains
curl -sS 127.0.0.1:8080/v2/health/ready

# 3. The server's name, version and protocol extensions
curl -sS 127.0.0.1:8080/v2

# 4. The model's input and outputs
curl -sS "127.0.0.1:8080/v2/models/$JOB"

# 5. Classify MNIST test image 0 (a 7): 784 FP32 values in [0, 1]
python3 -c 'import json; t = json.load(open("examples/predict_digit.json"))["input"]; print(json.dumps({"id": "digit-0", "inputs": [{"name": "input", "datatype": "FP32", "shape": t["shape"], "data": t["float_data"]}]}))' | curl -sS -H 'Content-Type: application/json' -d @- "127.0.0.1:8080/v2/models/$JOB/infer"

# 6. Every model with its state: READY, or UNAVAILABLE and the reason (Triton's repository index)
curl -sS -X POST 127.0.0.1:8080/v2/repository/index

# 7. A bad request gets 400 and a message naming the problem
curl -sS -w ' %{http_code}\n' -H 'Content-Type: application/json' -d '{"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 3], "data": [0, 128, 255]}]}' "127.0.0.1:8080/v2/models/$JOB/infer"
