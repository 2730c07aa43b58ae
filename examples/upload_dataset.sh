#!/usr/bin/env bash
# Upload your own dataset with grpcurl, then train on it (README, "Your own datasets").
# Needs a running server (make serve) and grpcurl on PATH; tests/e2e/test_grpcurl_upload.py runs it.
set -euo pipefail

# 1. A small dataset: a CSV, label first, header optional (3 classes, 4 features)
python3 -c 'import random; random.seed(0); print("label,a,b,c,d"); [print(",".join([str(c)] + [f"{c + random.random() / 2:.3f}" for _ in range(4)])) for c in [0, 1, 2] * 40]' > /tmp/points.csv

# 2. Upload it: the metadata message first, then the file as base64 chunks (786432 bytes each, under 1 MiB)
{ echo '{"metadata": {"name": "points", "format": "csv", "test_fraction": 0.25}}'; base64 -w 1048576 /tmp/points.csv | sed 's/.*/{"chunk": "&"}/'; } | grpcurl -plaintext -d @ 127.0.0.1:50051 nnservice.v1.NNService/UploadDataset

# 3. The datasets the server knows: the built-in ones, then points
grpcurl -plaintext 127.0.0.1:50051 nnservice.v1.NNService/ListDatasets

# 4. Train on it (the network's input and output sizes come from the dataset); keep its job id in JOB
JOB=$(grpcurl -plaintext -d '{"dataset": "points", "hidden_size": 16, "epochs": 20, "batch_size": 10, "learning_rate": 0.01}' 127.0.0.1:50051 nnservice.v1.NNService/Train | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
echo "JOB=$JOB"

# 5. Watch it: one message per change, until the job ends
grpcurl -plaintext -d "{\"job_id\": \"$JOB\"}" 127.0.0.1:50051 nnservice.v1.NNService/WatchJob

# 6. Classify a row of class 2, its features as floats like the CSV's (the model's input_dtype is float32)
grpcurl -plaintext -d "{\"model_id\": \"$JOB\", \"input\": {\"shape\": [1, 4], \"float_data\": [2.2, 2.3, 2.1, 2.4]}, \"include_class_names\": true}" 127.0.0.1:50051 nnservice.v1.NNService/Predict
