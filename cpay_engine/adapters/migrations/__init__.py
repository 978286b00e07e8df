"""Versioned schema migrations, one folder per backend, files NNNN_name.sql."""
