"""Compact JSON text for what the engine hashes and signs, built fast.

`json.JSONEncoder.encode` builds a new C encoder at every call; a payment encodes three
documents (its receipt, its audit details, the audit hash's material), so the encoders
here are built once. `json.encoder.c_make_encoder` is the standard library's own
accelerator (what `encode` calls); where it is missing, `encode` itself is used. Either
way the text is exactly `JSONEncoder(...).encode(value)`'s (tests/unit/test_jsontext.py).
Without circular-reference markers: the encoder keeps no state between calls, so one is
safe to share between threads, and no document here refers to itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _std

_JOIN = "".join


def compact_encoder(*, sort_keys: bool, ensure_ascii: bool) -> Callable[[object], str]:
    """`JSONEncoder(sort_keys=…, ensure_ascii=…, separators=(",", ":")).encode`."""
    plain = json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=ensure_ascii, separators=(",", ":"))
    make = getattr(_std, "c_make_encoder", None)
    if make is None:
        return plain.encode
    quote = _std.encode_basestring_ascii if ensure_ascii else _std.encode_basestring
    fast = make(None, plain.default, quote, None, ":", ",", sort_keys, False, True)

    def encode(value: object) -> str:
        if isinstance(value, str):
            return quote(value)
        return _JOIN(fast(value, 0))

    return encode
