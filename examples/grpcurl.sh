#!/usr/bin/env bash
# A first contact with nnservice from the shell, in numbered steps.
#
# The README shows exactly the lines below the `set` line, and tests/e2e/test_grpcurl.py runs
# them step by step against a real server (with its own port in place of 50051), so neither
# can rot. Run it from the repository root while `make serve` runs in another terminal:
#
#   PATH="$PWD/.venv/bin:$PATH" bash examples/grpcurl.sh
set -euo pipefail

# 1. List the services, through server reflection (no .proto file needed)
grpcurl -plaintext 127.0.0.1:50051 list

# 2. Describe the service: its RPCs and their messages
grpcurl -plaintext 127.0.0.1:50051 describe nnservice.v1.NNService

# 3. Ask the standard health service
grpcurl -plaintext -d '{"service": "nnservice.v1.NNService"}' 127.0.0.1:50051 grpc.health.v1.Health/Check

# 4. Train a small deep model, 784-64-32-10 with batch norm and dropout (a few seconds); keep its job id in JOB
JOB=$(grpcurl -plaintext -d '{"hidden_sizes": [64, 32], "batch_norm": true, "dropout": 0.1, "epochs": 1}' 127.0.0.1:50051 nnservice.v1.NNService/Train | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
echo "JOB=$JOB"

# 5. The job's status
grpcurl -plaintext -d "{\"job_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/GetStatus

# 6. Watch it: one message per change, until the job ends
grpcurl -plaintext -d "{\"job_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/WatchJob

# 7. Classify MNIST test image 0 (a 7) with the job's model (model id = job id)
sed "s/MODEL_ID/$JOB/" examples/predict_digit.json | grpcurl -plaintext -d @ 127.0.0.1:50051 nnservice.v1.NNService/Predict
