#!/usr/bin/env bash
# Move a model between two servers with grpcurl, export it as ONNX, then delete it and its job
# (README, "Model lifecycle"). Needs JOB set to a SUCCEEDED job's id (its model's id), the server
# that trained it on 127.0.0.1:50051 and a second one on 127.0.0.1:50052, and grpcurl on PATH;
# tests/e2e/test_grpcurl_lifecycle.py runs it.
set -euo pipefail

# 1. Export the job's model: base64 chunks in JSON messages, joined and decoded into one .npz file
grpcurl -plaintext -d "{\"model_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/ExportModel | sed -n 's/^ *"chunk": "\(.*\)",\{0,1\}$/\1/p' | tr -d '\n' | base64 -d > /tmp/model.npz

# 2. Import it into the second server: the metadata first, then the file as base64 chunks (786432 bytes each)
{ echo '{"metadata": {"name": "moved"}}'; base64 -w 1048576 /tmp/model.npz | sed 's/.*/{"chunk": "&"}/'; } | grpcurl -plaintext -d @ 127.0.0.1:50052 nnservice.v1.NNService/ImportModel

# 3. The same model as ONNX (for onnxruntime and other runtimes; needs the server's onnx extra)
grpcurl -plaintext -d "{\"model_id\": \"$JOB\", \"format\": \"onnx\"}" 127.0.0.1:50051 nnservice.v1.NNService/ExportModel | sed -n 's/^ *"chunk": "\(.*\)",\{0,1\}$/\1/p' | tr -d '\n' | base64 -d > /tmp/model.onnx

# 4. Delete the model on the first server (its job's record stays; Predict now gets NOT_FOUND), then the job
grpcurl -plaintext -d "{\"model_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/DeleteModel
grpcurl -plaintext -d "{\"job_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/DeleteJob
