#!/usr/bin/env bash
# The KServe v2 / Open Inference Protocol service with grpcurl (README, "KServe v2 / Triton clients").
# Needs a running server (make serve) and grpcurl on PATH; tests/e2e/test_grpcurl_kserve.py runs it.
set -euo pipefail

# 1. Train a small model and wait for it (WatchJob ends with the job); a model's KServe name is its id
JOB=$(grpcurl -plaintext -d '{"hidden_size": 32, "epochs": 1, "train_size": 5000, "seed": 1}' 127.0.0.1:50051 nnservice.v1.NNService/Train | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
grpcurl -plaintext -d "{\"job_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/WatchJob > /dev/null && echo "JOB=$JOB"

# 2. Is the server ready? (false while it drains)
grpcurl -plaintext 127.0.0.1:50051 inference.GRPCInferenceService/ServerReady

# 3. Every model with its state: READY, or UNAVAILABLE and the reason
grpcurl -plaintext 127.0.0.1:50051 inference.GRPCInferenceService/RepositoryIndex

# 4. The model's input and outputs
grpcurl -plaintext -d "{\"name\": \"$JOB\"}" 127.0.0.1:50051 inference.GRPCInferenceService/ModelMetadata

# 5. Classify MNIST test image 0 (a 7), sent as typed FP32 contents: the answer comes typed too
python3 -c 'import json, sys; t = json.load(open("examples/predict_digit.json"))["input"]; print(json.dumps({"model_name": sys.argv[1], "id": "digit-0", "inputs": [{"name": "input", "datatype": "FP32", "shape": t["shape"], "contents": {"fp32_contents": t["float_data"]}}]}))' "$JOB" | grpcurl -plaintext -d @ 127.0.0.1:50051 inference.GRPCInferenceService/ModelInfer
