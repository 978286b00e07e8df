"""Adapters: storage, key storage, cryptography. The only place that touches I/O libraries."""
