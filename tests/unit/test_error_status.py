"""Errors on the wire: a message that repeats a client's input stays small enough to travel.

gRPC puts the status in the response headers, its message twice; clients refuse headers
past 8-16 KiB and then report RESOURCE_EXHAUSTED instead of the error.
"""

from __future__ import annotations

from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from cpay_engine.errors import NotFound, quoted
from cpay_engine.rpc.errors import MAX_DETAIL_CHARS, MAX_MESSAGE_CHARS, to_status


def test_quoted_keeps_a_short_value_whole_and_cuts_a_long_one_saying_how_long() -> None:
    assert quoted("bob") == "'bob'"
    long = quoted("x" * 5_000)
    assert long == "'" + "x" * 64 + "…' (5000 characters)"


def test_a_status_carries_at_most_the_capped_message_and_details() -> None:
    error = NotFound("no such thing " + "y" * 50_000, details={"payment_id": "p" * 10_000})

    status = to_status(error)

    message = status.details
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.startswith("no such thing yyy")
    assert message.endswith("…")
    packed = dict(status.trailing_metadata)[rpc_status.GRPC_DETAILS_METADATA_KEY]
    assert len(packed) < 2 * MAX_MESSAGE_CHARS
    info = error_details_pb2.ErrorInfo()
    detail = status_pb2.Status.FromString(packed).details[0]
    detail.Unpack(info)
    assert info.reason == "not_found"
    assert len(info.metadata["payment_id"]) == MAX_DETAIL_CHARS
