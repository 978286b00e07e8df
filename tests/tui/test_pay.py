"""Pay: validation as you type, a confirmation before money moves, and honest results."""

from __future__ import annotations

import threading

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from cpay_cli.tui.screens.confirm import ConfirmScreen
from cpay_cli.tui.screens.pay import PayScreen
from cpay_engine.api import PaymentResult
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.domain.money import format_amount
from cpay_engine.errors import OutcomeUnknown
from tests.tui.helpers import burst, cells, column, paste, press, settle, shown
from tests.tui.seeding import BOB_AVAILABLE, CAROL_AVAILABLE, SeededWallet


async def open_pay(pilot: Pilot[None]) -> PayScreen:
    await press(pilot, "p")
    screen = pilot.app.screen
    assert isinstance(screen, PayScreen)
    return screen


async def type_into(pilot: Pilot[None], field: str, text: str) -> None:
    """Focus one field, empty it, and type into it key by key."""
    box = pilot.app.screen.query_one(f"#{field}", Input)
    box.focus()
    box.clear()
    await press(pilot, *text)


async def fill_order(pilot: Pilot[None], recipient: str, amount: str, memo: str = "") -> None:
    await paste(pilot, "#recipient", recipient)
    await paste(pilot, "#amount", amount)
    if memo:
        await paste(pilot, "#memo", memo)


def text_of(pilot: Pilot[None], selector: str) -> str:
    return shown(pilot.app.screen.query_one(selector, Static))


def dbl(minor: int) -> str:
    return format_amount(minor, "DBL")


def words(text: str) -> str:
    """Text as one line: long results wrap on screen."""
    return " ".join(text.split())


def confirm_text(pilot: Pilot[None]) -> str:
    screen = pilot.app.screen
    assert isinstance(screen, ConfirmScreen), f"expected the confirmation, got {screen}"
    return "\n".join(shown(line) for line in screen.query(Static))


async def test_each_field_is_checked_as_you_type_and_the_preview_follows(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        assert text_of(pilot, "#preview") == "Fill in the form to see a preview."
        await type_into(pilot, "recipient", "@1x")
        assert text_of(pilot, "#recipient-error").startswith("'@1x' is not a handle")
        await paste(pilot, "#recipient", "@carol")
        assert text_of(pilot, "#recipient-error") == ""
        await type_into(pilot, "amount", "1.234")
        assert (
            text_of(pilot, "#amount-error") == "DBL amounts take at most 2 decimals; '1.234' has 3"
        )
        assert text_of(pilot, "#preview") == "Fill in the form to see a preview."
        await press(pilot, "backspace")
        assert text_of(pilot, "#amount-error") == ""
        assert text_of(pilot, "#preview") == (
            "Pay 1.23 DBL to @carol (from @bob)\n"
            f"You have {dbl(BOB_AVAILABLE)} DBL; {dbl(BOB_AVAILABLE - 123)} DBL after this payment."
        )


async def test_the_preview_warns_before_paying_more_than_is_available(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", dbl(BOB_AVAILABLE + 1))
        warning = f"Not enough: you have {dbl(BOB_AVAILABLE)} DBL; this payment would fail."
        assert text_of(pilot, "#preview").split("\n")[1] == warning
        await press(pilot, "ctrl+s")
        assert warning in words(confirm_text(pilot))
        await press(pilot, "n")
        await paste(pilot, "#amount", dbl(BOB_AVAILABLE))
        assert text_of(pilot, "#preview").split("\n")[1] == (
            f"You have {dbl(BOB_AVAILABLE)} DBL; 0.00 DBL after this payment."
        )
    assert seeded.available("bob") == BOB_AVAILABLE


async def test_keys_typed_ahead_of_tab_land_in_the_field_tab_moves_to(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        screen = await open_pay(pilot)
        # Tab past the currency (it holds DBL), then Shift+Tab back twice, all at once
        await burst(pilot, "@carol\t2.50\t\tlunch again\x1b[Z\x1b[Z")
        values = {
            field: screen.query_one(f"#{field}", Input).value
            for field in ("recipient", "amount", "currency", "memo")
        }
        assert values == {
            "recipient": "@carol",
            "amount": "2.50",
            "currency": "DBL",
            "memo": "lunch again",
        }
        assert screen.focused is screen.query_one("#amount", Input)
        assert text_of(pilot, "#preview").startswith("Pay 2.50 DBL to @carol (from @bob)\n")


async def test_submitting_an_incomplete_form_asks_for_fixes_and_sends_nothing(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await paste(pilot, "#recipient", "@carol")
        await press(pilot, "ctrl+s")
        assert isinstance(pilot.app.screen, PayScreen), "no confirmation for a bad form"
        assert text_of(pilot, "#amount-error") == "Type an amount in DBL"
        await paste(pilot, "#recipient", "")
        await press(pilot, "ctrl+s")
        assert text_of(pilot, "#recipient-error") == "Type who gets it: a handle such as @bob"
        assert seeded.available("bob") == BOB_AVAILABLE


async def test_a_confirmed_payment_moves_the_money_and_reports_completed(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "20.25", "book club")
        await press(pilot, "ctrl+s")
        dialog = confirm_text(pilot)
        assert "Pay 20.25 DBL to @carol (from @bob)" in dialog
        assert "Memo: book club" in dialog
        assert seeded.available("bob") == BOB_AVAILABLE, "nothing moves before the answer"
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, PayScreen)
        result = words(text_of(pilot, "#result"))
        assert result.startswith("Done: 20.25 DBL to @carol — completed. Id ")
        assert seeded.available("bob") == BOB_AVAILABLE - 20_25
        assert seeded.available("carol") == CAROL_AVAILABLE + 20_25
        memos = [t.memo for t in seeded.api("carol").history(limit=1).transactions]
        assert memos == ["book club"]
        await press(pilot, "escape")  # back to the dashboard, which reloads
        balances = cells(pilot.app.screen.query_one("#balances", DataTable))
        assert balances[0][:2] == ["DBL", format_amount(BOB_AVAILABLE - 20_25, "DBL")]
        assert column(pilot.app.screen.query_one("#latest", DataTable), "Memo")[0] == "book club"


async def test_declining_the_confirmation_in_any_way_pays_nothing(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "20.25")
        for answer in ("escape", "n", "click Cancel"):
            await press(pilot, "ctrl+s")
            assert isinstance(pilot.app.screen, ConfirmScreen)
            if answer == "click Cancel":
                await pilot.click("#cancel")
                await settle(pilot)
            else:
                await press(pilot, answer)
            assert isinstance(pilot.app.screen, PayScreen), answer
            assert text_of(pilot, "#result") == "Cancelled: nothing was sent.", answer
    assert seeded.available("bob") == BOB_AVAILABLE
    assert seeded.available("carol") == CAROL_AVAILABLE


async def test_paying_more_than_the_balance_shows_the_engines_reason_and_moves_nothing(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "10000")
        await press(pilot, "ctrl+s")  # the dialog opens once the funds are read
        await press(pilot, "y")
        result = words(text_of(pilot, "#result"))
        assert result.startswith("insufficient funds: @bob cannot pay 10000.00 DBL; payment ")
        assert "error" in pilot.app.screen.query_one("#result").classes
    assert seeded.available("bob") == BOB_AVAILABLE
    assert seeded.available("carol") == CAROL_AVAILABLE


# pay.py: #result sits below the Review button in the .form VerticalScroll; at 100x30 (and
# 80x24) the form is taller than the screen, PaymentForm._result updates the Static without
# scrolling it into view, and on_screen_resume puts the focus back on the recipient at the
# top: the outcome (and the "submit again with the same id" advice after OutcomeUnknown)
# is drawn below the bottom edge (row 33 of 30).
async def test_the_outcome_of_a_payment_is_on_screen(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "1")
        await press(pilot, "ctrl+s")  # the dialog opens once the funds are read
        await press(pilot, "y")
        result = pilot.app.screen.query_one("#result", Static)
        assert words(shown(result)).startswith("Done: 1.00 DBL to @carol — completed")
        assert pilot.app.screen.region.contains_region(result.region), result.region


class FlakyLink(SignedClient):
    """bob's real client, except that his first payment is lost in transit: OutcomeUnknown.

    `lose` says what is lost: the request (the engine never sees it) or the reply
    (the engine made the payment, the answer never came back).
    """

    def __init__(self, seeded: SeededWallet, lose: str) -> None:
        transport = InProcessTransport(seeded.wallet.engine)
        super().__init__(transport, seeded.wallet.keys["bob"], clock=seeded.clock)
        self.lose = lose
        self.payment_ids: list[str] = []

    def pay(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult:
        self.payment_ids.append(payment_id)
        first = len(self.payment_ids) == 1
        if first and self.lose == "request":
            raise OutcomeUnknown("the connection dropped: the payment may or may not exist")
        result = super().pay(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency=currency,
            memo=memo,
        )
        if first:
            raise OutcomeUnknown("the connection dropped: the payment may or may not exist")
        return result


@pytest.mark.parametrize("lose", ["request", "reply"])
async def test_a_retry_after_an_unknown_outcome_reuses_the_payment_id_and_pays_once(
    seeded: SeededWallet, lose: str
) -> None:
    link = FlakyLink(seeded, lose)
    async with seeded.app("bob", api=link).run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "30", "tickets")
        await press(pilot, "ctrl+s")  # the dialog opens once the funds are read
        await press(pilot, "y")
        first_id = link.payment_ids[0]
        assert words(text_of(pilot, "#result")) == words(
            "the connection dropped: the payment may or may not exist\n"
            f"Submit again to retry safely with the same id {first_id}."
        )
        await press(pilot, "ctrl+s")
        dialog = confirm_text(pilot)
        assert f"Payment id {first_id}" in dialog
        assert "Retrying with the same id: it cannot be paid twice." in dialog
        await press(pilot, "y")
        assert link.payment_ids == [first_id, first_id]
        result = words(text_of(pilot, "#result"))
        assert result.startswith("Done: 30.00 DBL to @carol — completed")
        assert result.endswith(f"Id {first_id}")
        replayed = "(already made earlier: this is the original result)" in result
        assert replayed == (lose == "reply"), "a lost reply means the engine replays"
    carols = seeded.api("carol").history(limit=50).transactions
    assert [t.id for t in carols if t.memo == "tickets"] == [first_id]
    assert seeded.available("bob") == BOB_AVAILABLE - 30_00
    assert seeded.available("carol") == CAROL_AVAILABLE + 30_00


async def test_changing_the_order_after_a_lost_request_says_so_and_pays_with_a_new_id(
    seeded: SeededWallet,
) -> None:
    link = FlakyLink(seeded, "request")
    async with seeded.app("bob", api=link).run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "30")
        await press(pilot, "ctrl+s")  # the dialog opens once the funds are read
        await press(pilot, "y")
        first_id = link.payment_ids[0]
        await paste(pilot, "#amount", "31")
        await press(pilot, "ctrl+s")  # the earlier attempt is looked up, then the dialog
        dialog = words(confirm_text(pilot))
        earlier = f"Your earlier attempt (30.00 DBL to @carol, id {first_id})"
        assert dialog.startswith(f"Pay? Warning: {earlier} is not recorded")
        assert "Retrying" not in dialog
        await press(pilot, "y")
        assert len(set(link.payment_ids)) == 2
    assert seeded.available("carol") == CAROL_AVAILABLE + 31_00


async def test_changing_the_order_after_a_lost_reply_shows_the_payment_made_and_sends_nothing(
    seeded: SeededWallet,
) -> None:
    """The engine made the first payment; only its answer was lost. Fixing the memo and
    submitting used to pay a second time under a new id, without a word."""
    link = FlakyLink(seeded, "reply")
    async with seeded.app("bob", api=link).run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "30", "gift")
        await press(pilot, "ctrl+s")
        await press(pilot, "y")
        first_id = link.payment_ids[0]
        await paste(pilot, "#memo", "gift for carol")
        await press(pilot, "ctrl+s")
        assert not isinstance(pilot.app.screen, ConfirmScreen)
        assert words(text_of(pilot, "#result")) == words(
            "Your earlier attempt is recorded: 30.00 DBL to @carol — completed. "
            f"Id {first_id}. Nothing new was sent: submit again if you want another payment."
        )
        assert link.payment_ids == [first_id]
        await press(pilot, "ctrl+s")  # now asked for: a new payment, a new id
        assert f"Payment id {first_id}" not in confirm_text(pilot)
        await press(pilot, "n")
    assert seeded.available("carol") == CAROL_AVAILABLE + 30_00


async def test_an_earlier_attempt_not_recorded_yet_is_not_forgotten_when_the_new_one_is_cancelled(
    seeded: SeededWallet,
) -> None:
    """The lookup said "not recorded" (the engine had not got to it yet), the user said no
    to the new order and went back to the original one: it went out under a new id and
    paid twice once the first landed. It is the same order: a retry under its own id."""
    link = FlakyLink(seeded, "request")
    async with seeded.app("bob", api=link).run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "30")
        await press(pilot, "ctrl+s")
        await press(pilot, "y")
        first_id = link.payment_ids[0]
        await paste(pilot, "#amount", "31")
        await press(pilot, "ctrl+s")
        assert "is not recorded yet" in words(confirm_text(pilot))
        await press(pilot, "n")
        await paste(pilot, "#amount", "30")
        await press(pilot, "ctrl+s")
        dialog = confirm_text(pilot)
        assert f"Payment id {first_id}" in dialog
        assert "Retrying with the same id" in dialog
        await press(pilot, "y")
        assert link.payment_ids == [first_id, first_id]
    assert seeded.available("carol") == CAROL_AVAILABLE + 30_00


async def test_every_payment_on_its_way_gets_the_quit_warning_and_unknown_ones_are_named(
    seeded: SeededWallet,
) -> None:
    """The warning was armed once per session: a second payment on its way quit at the
    first press. A payment whose answer never came is kept for `cpay ui` to name."""
    link = HeldLink(seeded)
    app = seeded.app("bob", api=link)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        for amount in ("0.41", "0.42"):
            await fill_order(pilot, "@carol", amount)
            await press(pilot, "ctrl+s")
            await pilot.press("y")
            await pilot.pause()
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert app.is_running, f"quit at the first press with {amount} on its way"
            link.release.set()
            await settle(pilot)
            link.release.clear()
        assert app.in_flight == {}
    flaky = FlakyLink(seeded, "reply")
    app = seeded.app("bob", api=flaky)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "0.43")
        await press(pilot, "ctrl+s")
        await press(pilot, "y")
    assert app.unresolved == {flaky.payment_ids[0]: "0.43 DBL to @carol"}


async def test_a_new_currency_checks_the_amount_again(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await paste(pilot, "#recipient", "@carol")
        await paste(pilot, "#amount", "1.234")
        assert text_of(pilot, "#amount-error").startswith("DBL amounts take at most 2 decimals")
        await paste(pilot, "#currency", "KWD")  # three decimals: 1.234 is fine
        assert text_of(pilot, "#amount-error") == ""
        await paste(pilot, "#amount", "1.5")
        await paste(pilot, "#currency", "JPY")
        assert text_of(pilot, "#amount-error") == "JPY amounts take no decimals; '1.5' has 1"
        assert text_of(pilot, "#preview") == "Fill in the form to see a preview."


async def test_paying_yourself_is_pointed_out_in_the_form(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@Bob", "1")
        assert text_of(pilot, "#recipient-error") == (
            "you cannot pay yourself: choose another recipient"
        )
        await press(pilot, "ctrl+s")
        assert isinstance(pilot.app.screen, PayScreen), "no confirmation for a bad form"


@pytest.mark.parametrize("keys", ["\r\r", "\ry\ry"], ids=["enter-enter", "enter-y-enter-y"])
async def test_keys_typed_ahead_of_the_confirmation_open_one_dialog_and_pay_once(
    seeded: SeededWallet, keys: str
) -> None:
    """A key bounce, or Enter then y typed before the dialog is drawn: one dialog, one id."""
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "1.11", "double enter")
        await burst(pilot, keys)
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, PayScreen), "a second dialog was left open"
        assert words(text_of(pilot, "#result")).startswith("Done: 1.11 DBL to @carol")
    carols = seeded.api("carol").history(limit=50).transactions
    # (the y's typed ahead land in the memo: the dialog shows the memo that is sent)
    assert len([t for t in carols if t.amount_minor == 1_11]) == 1
    assert seeded.available("bob") == BOB_AVAILABLE - 1_11


class HeldLink(SignedClient):
    """bob's real client, whose payments wait until the test lets them through."""

    def __init__(self, seeded: SeededWallet) -> None:
        transport = InProcessTransport(seeded.wallet.engine)
        super().__init__(transport, seeded.wallet.keys["bob"], clock=seeded.clock)
        self.release = threading.Event()
        self.payment_ids: list[str] = []

    def pay(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult:
        self.payment_ids.append(payment_id)
        self.release.wait()
        return super().pay(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency=currency,
            memo=memo,
        )


async def test_no_second_payment_is_offered_while_one_is_on_its_way(
    seeded: SeededWallet,
) -> None:
    link = HeldLink(seeded)
    async with seeded.app("bob", api=link).run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "0.30", "first")
        await press(pilot, "ctrl+s")
        await pilot.press("y")  # not press(): its worker waits for the release
        await pilot.pause()
        assert words(text_of(pilot, "#result")) == "Sending 0.30 DBL to @carol…"
        await paste_now(pilot, "#amount", "0.31")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(pilot.app.screen, PayScreen), "a dialog opened while sending"
        link.release.set()
        await settle(pilot)
        assert words(text_of(pilot, "#result")).startswith("Done: 0.30 DBL to @carol")
    assert len(link.payment_ids) == 1
    assert seeded.available("carol") == CAROL_AVAILABLE + 30


async def test_quitting_while_a_payment_is_on_its_way_asks_first_and_names_it(
    seeded: SeededWallet,
) -> None:
    """q with a payment on its way warns; a second q quits, and the app keeps the
    payment's id for `cpay ui` to print (exit 9, as `cpay pay` does for an unknown
    outcome). Quitting used to blank the screen and exit 0 without a word."""
    link = HeldLink(seeded)
    app = seeded.app("bob", api=link)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)
        await fill_order(pilot, "@carol", "0.40", "in flight")
        await press(pilot, "ctrl+s")
        await pilot.press("y")  # not press(): its worker waits for the release
        await pilot.pause()
        (payment_id,) = link.payment_ids
        assert app.in_flight == {payment_id: "0.40 DBL to @carol"}
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running, "quit at once with a payment on its way"
        await pilot.press("ctrl+q")
        await pilot.pause()
        link.release.set()
    assert app.in_flight == {payment_id: "0.40 DBL to @carol"}


async def paste_now(pilot: Pilot[None], selector: str, text: str) -> None:
    """paste(), without waiting for workers (one is held on purpose)."""
    box = pilot.app.screen.query_one(selector, Input)
    box.clear()
    box.insert_text_at_cursor(text)
    await pilot.pause()


async def test_the_confirmation_shows_the_funds_as_they_are_when_it_opens(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await open_pay(pilot)  # the form reads bob's funds as it opens
        seeded.api("bob").pay(  # then bob pays from another device
            payment_id="elsewhere-01", recipient="carol", amount_minor=50_00, currency="DBL"
        )
        await fill_order(pilot, "@carol", "1")
        await press(pilot, "ctrl+s")
        left = BOB_AVAILABLE - 50_00
        assert f"You have {dbl(left)} DBL; {dbl(left - 1_00)} DBL after this payment." in words(
            confirm_text(pilot)
        )
        await press(pilot, "escape")
