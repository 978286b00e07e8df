"""A Ctrl-C after a payment was sent names the payment: it may have been made.

It used to say only "cpay: interrupted" (exit 130), so a script reading 130 as "nothing
happened" retried with a new id and paid twice. The interruption is injected right after
the real call returns (the engine committed), where a real Ctrl-C can land.
"""

from __future__ import annotations

from typing import Any

import pytest

from cpay_engine.client import SignedClient
from tests.cli.conftest import Cli


@pytest.mark.parametrize(
    ("method", "command"),
    [
        ("pay", ("pay", "@bob", "2", "DBL", "--yes")),
        ("mint", ("admin", "mint", "@bob", "2", "DBL", "--yes")),
    ],
)
def test_a_ctrl_c_after_sending_names_the_payment_and_a_retry_pays_once(
    funded: Cli, monkeypatch: pytest.MonkeyPatch, method: str, command: tuple[str, ...]
) -> None:
    real = getattr(SignedClient, method)

    def interrupted(self: SignedClient, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)
        raise KeyboardInterrupt

    payment_id = f"interrupted-{method}-1"
    with monkeypatch.context() as patch:
        patch.setattr(SignedClient, method, interrupted)
        result = funded(*command, "--id", payment_id)
    assert result.exit_code == 130
    assert f"interrupted after sending payment {payment_id}" in result.stderr
    assert f"cpay show {payment_id}" in result.stderr
    assert funded.json("show", payment_id)["status"] == "completed"
    again = funded(*command, "--id", payment_id)
    assert again.exit_code == 0, again.stderr
    assert "already made" in again.stderr
    assert funded.available("bob") == "2.00"
