"""The audit log's hash chain: each entry commits to the one before it."""

from __future__ import annotations

import hashlib
import json

GENESIS = "0" * 64
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(…, separators) uses


def entry_hash(prev_hash: str, at_ms: int, actor: str, action: str, details: str) -> str:
    material = _ENCODER.encode([prev_hash, at_ms, actor, action, details])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
