"""The audit log's hash chain: each entry commits to the one before it."""

from __future__ import annotations

import hashlib

from cpay_engine.domain.jsontext import compact_encoder

GENESIS = "0" * 64
_ENCODE = compact_encoder(sort_keys=False, ensure_ascii=True)  # json.dumps(…, separators)


def entry_hash(prev_hash: str, at_ms: int, actor: str, action: str, details: str) -> str:
    material = _ENCODE([prev_hash, at_ms, actor, action, details])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
