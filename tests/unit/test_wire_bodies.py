"""Bodies another program may send that CPay's own client cannot express: enum numbers
this engine does not know, search words no memo could match. Each is refused saying
which field, and nothing is written but the spent nonce."""

from __future__ import annotations

from typing import cast

import pytest
from google.protobuf.message import Message

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.errors import InvalidInput
from cpay_engine.service.engine import METHODS, method_name
from cpay_engine.wire import cpay_pb2 as pb
from tests.support import Clock, Wallet
from tests.unit.test_signing import envelope, snapshot


def send(wallet: Wallet, key: SigningKey, rpc: str, body: Message, clock: Clock) -> Message:
    signed = envelope(key, rpc, body.SerializeToString(), timestamp_ms=clock())
    request = METHODS[method_name(rpc)].request_type(signed=signed)
    return wallet.engine.dispatch(method_name(rpc), request)


@pytest.mark.parametrize(
    ("rpc", "body", "says"),
    [
        pytest.param(
            "GetTransactionHistory",
            pb.TransactionHistoryRequest.Body(
                filter=pb.HistoryFilter(status=cast(pb.TransactionStatus, 99))
            ),
            "filter.status 99 is not one this engine knows",
            id="history-status",
        ),
        pytest.param(
            "GetTransactionHistory",
            pb.TransactionHistoryRequest.Body(
                filter=pb.HistoryFilter(direction=cast(pb.Direction, 77))
            ),
            "filter.direction 77 is not one this engine knows",
            id="history-direction",
        ),
        pytest.param(
            "CreateUser",
            pb.CreateUserRequest.Body(
                handle="mallory",
                role=cast(pb.Role, 99),
                public_key=SigningKey.generate().public_key,
            ),
            "role 99 is not one this engine knows",
            id="user-role",
        ),
        pytest.param(
            "CreateInvite",
            pb.CreateInviteRequest.Body(role=cast(pb.Role, 42)),
            "role 42 is not one this engine knows",
            id="invite-role",
        ),
        pytest.param(
            "GetTransactionHistory",
            pb.TransactionHistoryRequest.Body(filter=pb.HistoryFilter(text="x" * 50_000)),
            "is longer than any memo (280 characters)",
            id="search-word",
        ),
    ],
)
def test_a_body_this_engine_cannot_honour_is_refused_naming_the_field(
    wallet: Wallet, clock: Clock, rpc: str, body: Message, says: str
) -> None:
    before = snapshot(wallet)

    with pytest.raises(InvalidInput, match=says.replace("(", r"\(").replace(")", r"\)")):
        send(wallet, wallet.admin_key, rpc, body, clock)

    after = snapshot(wallet)
    assert after["nonces"] == cast(int, before["nonces"]) + 1  # spent: the request was received
    assert {k: v for k, v in after.items() if k != "nonces"} == {
        k: v for k, v in before.items() if k != "nonces"
    }


def test_unset_enums_keep_their_documented_defaults(wallet: Wallet, clock: Clock) -> None:
    """0 is proto3's 'not set': no status filter; a plain user; a user's invite."""
    history = send(
        wallet,
        wallet.admin_key,
        "GetTransactionHistory",
        pb.TransactionHistoryRequest.Body(
            filter=pb.HistoryFilter(status=cast(pb.TransactionStatus, 0))
        ),
        clock,
    )
    assert isinstance(history, pb.TransactionHistoryResponse)
    invite = send(wallet, wallet.admin_key, "CreateInvite", pb.CreateInviteRequest.Body(), clock)
    assert isinstance(invite, pb.CreateInviteResponse)
    assert invite.role == pb.ROLE_USER
