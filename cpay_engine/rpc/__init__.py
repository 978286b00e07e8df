"""gRPC: server, remote client transport, error <-> status mapping, interceptors."""
