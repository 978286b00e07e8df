"""gRPC: server, remote client transport, error <-> status mapping, interceptors."""

import os

# grpc-core writes connection, handshake and bind failures to stderr in its own format
# (on a server, between the JSON log lines) before CPay reports the same failure as a
# CPayError that says what to do. Set before grpc is first imported (every import of
# grpc in CPay is under this package); an explicit GRPC_VERBOSITY still wins.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
