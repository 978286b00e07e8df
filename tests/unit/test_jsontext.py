"""compact_encoder gives exactly JSONEncoder.encode's text (receipts and the audit chain
depend on it byte for byte), with and without the C accelerator."""

from __future__ import annotations

import json
from json import encoder as std

import pytest

from cpay_engine.domain.jsontext import compact_encoder

DOCS: list[object] = [
    {
        "v": 1,
        "tx": "0b0e6f9c",
        "memo": 'caf\u00e9 \u2603 \U0001f600 "q" \\ \n\t\x00\x1f\u2028\u202e',
        "postings": [["@alice:DBL", -1, "DBL"], ["@bob:DBL", 1, "DBL"]],
        "amount_minor": 10**18,
    },
    ["0" * 64, 1_795_000_000_000, "alice", "payment.completed", '{"id":"x"}'],
    {"z": None, "a": True, "m": False, "n": [], "o": {}},
    "a bare string \u00e9",
    12345,
    [],
]


@pytest.mark.parametrize("sort_keys", [True, False])
@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("doc", DOCS)
def test_same_text_as_json_encoder(doc: object, sort_keys: bool, ensure_ascii: bool) -> None:
    plain = json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=ensure_ascii, separators=(",", ":"))
    assert compact_encoder(sort_keys=sort_keys, ensure_ascii=ensure_ascii)(doc) == plain.encode(doc)


def test_without_the_c_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(std, "c_make_encoder", None)
    encode = compact_encoder(sort_keys=True, ensure_ascii=False)
    assert encode(DOCS[0]) == json.dumps(
        DOCS[0], sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert isinstance(getattr(encode, "__self__", None), json.JSONEncoder)  # the fallback ran


def test_unencodable_is_refused_like_json() -> None:
    encode = compact_encoder(sort_keys=True, ensure_ascii=True)
    with pytest.raises(TypeError):
        encode({"x": object()})
