"""The nnservice.v1 gRPC schema and its generated, committed Python stubs."""
