"""The form behind Pay and Mint: validates as you type, previews, confirms, reports.

The payment id is chosen when a payment is first submitted and kept until the
engine gives a definite answer, so a retry after "outcome unknown" or a lost
connection can never pay twice. One confirmation at a time, and none while a payment
is on its way: a second Enter typed ahead (a key bounce, or Enter then y) must not
open a second dialog with a second id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.suggester import SuggestFromList
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Header, Input, Label, Static

from cpay_cli.output import funds_note
from cpay_cli.tui.base import CPayScreen
from cpay_cli.tui.format import literal, literal_lines
from cpay_cli.tui.inputs import FormInput
from cpay_cli.tui.keybar import KeyBar
from cpay_cli.tui.screens.confirm import ConfirmScreen
from cpay_engine.api import BalanceView, PaymentResult, TransactionView
from cpay_engine.domain.model import check_memo, check_payee, parse_handle
from cpay_engine.domain.money import format_amount, parse_amount, parse_currency
from cpay_engine.errors import CPayError, InvalidInput, NotFound, OutcomeUnknown, Unavailable


class MoneyCall(Protocol):
    def __call__(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult: ...


class EngineRule(Validator):
    """Runs one of the engine's own parsers, so the form and the engine agree."""

    def __init__(self, check: object) -> None:
        super().__init__()
        self._check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self._check(value)  # type: ignore[operator]
        except CPayError as error:
            return self.failure(error.message)
        return self.success()


@dataclass(frozen=True)
class Order:
    recipient: str
    amount_minor: int
    currency: str
    memo: str

    def preview(self) -> str:
        amount = format_amount(self.amount_minor, self.currency)
        return f"{amount} {self.currency} to @{self.recipient}"


class PaymentForm(CPayScreen):
    """Subclasses set the verb and call the API."""

    VERB = "Pay"
    FROM_TREASURY = False  # the mint form's money comes from the treasury, which has no limit
    BINDINGS = [  # noqa: RUF012
        Binding("ctrl+s", "submit", "Review"),
        Binding("escape", "back", "Back"),
    ]
    fixed_currency: str | None = None

    def __init__(self) -> None:
        super().__init__()
        # Attempts whose outcome is unknown (no answer in time), by order: the same order
        # again retries under its id; another order first looks them all up.
        self._unresolved: dict[Order, str] = {}
        self._on_its_way: tuple[Order, str] | None = None  # sent, not yet answered
        self._available: dict[str, int] | None = None  # by currency, once loaded
        self._confirming = False  # from submit until the confirmation is answered

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(self.VERB, classes="title")
            yield Label("Recipient")
            yield FormInput(
                placeholder="@handle",
                id="recipient",
                compact=True,
                validators=[EngineRule(parse_handle)],
                suggester=SuggestFromList([], case_sensitive=False),
            )
            yield Static("", id="recipient-error", classes="field-error")
            yield Label("Amount")
            yield FormInput(placeholder="12.50", id="amount", compact=True)
            yield Static("", id="amount-error", classes="field-error")
            if self.fixed_currency is None:
                yield Label("Currency")
                yield FormInput(
                    "DBL", id="currency", validators=[EngineRule(parse_currency)], compact=True
                )
                yield Static("", id="currency-error", classes="field-error")
            yield Label("Memo")
            yield FormInput(
                placeholder="what it is for (optional)",
                id="memo",
                validators=[EngineRule(check_memo)],
                compact=True,
            )
            yield Static("", id="memo-error", classes="field-error")
            yield Static("Fill in the form to see a preview.", id="preview")
            with Horizontal(classes="buttons"):
                yield Button(f"Review & {self.VERB.lower()}", id="submit", variant="primary")
            yield Static("", id="result")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#recipient", Input).focus()
        api = self.cpay.api
        self.call_api(lambda: api.history(limit=200), self._learn_counterparties, group="names")

    def on_screen_resume(self) -> None:
        self.query_one("#recipient", Input).focus()
        self._load_funds()

    def _load_funds(self) -> None:
        """What the payer has, for the preview."""
        if self.FROM_TREASURY:
            return
        api = self.cpay.api
        self.call_api(api.balances, self._learn_funds, group="funds", failed=lambda _error: None)

    def _learn_funds(self, balances: list[BalanceView]) -> None:
        self._available = {b.currency: b.available_minor for b in balances}
        self._show_preview(self._order()[0])

    def _learn_counterparties(self, page: object) -> None:
        names = sorted(
            {
                "@" + t.counterparty
                for t in getattr(page, "transactions", ())
                if t.counterparty != "treasury"
            }
        )
        self.query_one("#recipient", Input).suggester = SuggestFromList(names, case_sensitive=False)

    # --- validation --------------------------------------------------------------------

    def _currency(self) -> str:
        if self.fixed_currency is not None:
            return self.fixed_currency
        return self.query_one("#currency", Input).value.strip()

    def _order(self) -> tuple[Order | None, dict[str, str]]:
        """Parse every field with the engine's rules; errors by field id."""
        errors: dict[str, str] = {}
        values = {
            name: self.query_one(f"#{name}", Input).value.strip()
            for name in ("recipient", "amount", "memo")
        }
        recipient = currency = ""
        amount = 0
        try:
            if not values["recipient"]:
                raise InvalidInput("Type who gets it: a handle such as @bob")
            recipient = parse_handle(values["recipient"])
            if not self.FROM_TREASURY:
                check_payee(self.cpay.account.handle, recipient)
        except CPayError as error:
            errors["recipient"] = error.message
        try:
            currency = parse_currency(self._currency())
        except CPayError as error:
            errors["currency"] = error.message
        if currency:
            try:
                if not values["amount"]:
                    raise InvalidInput(f"Type an amount in {currency}")
                amount = parse_amount(values["amount"], currency)
            except CPayError as error:
                errors["amount"] = error.message
        try:
            check_memo(values["memo"])
        except CPayError as error:
            errors["memo"] = error.message
        if errors:
            return None, errors
        return Order(recipient, amount, currency, values["memo"]), errors

    def on_input_changed(self, _event: Input.Changed) -> None:
        """Every field's error again: a new currency changes what the amount may be."""
        order, errors = self._order()
        for box in self.query(FormInput):
            field = box.id or ""
            shown = errors.get(field, "") if box.value.strip() else ""  # not typed into yet
            self.query_one(f"#{field}-error", Static).update(literal(shown))
        self._show_preview(order)

    def _show_preview(self, order: Order | None) -> None:
        preview = self.query_one("#preview", Static)
        if order is None:
            preview.update("Fill in the form to see a preview.")
            return
        text = literal(self._preview_lines(order)[0])
        funds = self._funds(order)
        if funds is not None:
            line, enough = funds
            text.append("\n").append_text(literal(line, "" if enough else "bold yellow"))
        preview.update(text)

    def _funds(self, order: Order) -> tuple[str, bool] | None:
        """The payer's funds against this payment (output.funds_note), once loaded."""
        if self._available is None:
            return None
        return funds_note(
            self._available.get(order.currency, 0), order.amount_minor, order.currency
        )

    def _preview_lines(self, order: Order) -> list[str]:
        payer = "treasury" if self.FROM_TREASURY else "@" + self.cpay.account.handle
        ctx = self.cpay.context
        lines = [
            f"{self.VERB} {order.preview()} (from {payer})",
            f"Profile '{ctx.profile}', {ctx.mode} mode ({ctx.target})",
        ]
        if order.memo:
            lines.append(f"Memo: {order.memo}")
        funds = self._funds(order)
        if funds is not None:
            lines.append(funds[0])
        return lines

    # --- submit ------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_submit()

    def action_back(self) -> None:
        self.app.switch_mode("dashboard")

    @property
    def _sending(self) -> bool:
        """From "yes" until the engine's answer is back."""
        return self._on_its_way is not None

    def action_submit(self) -> None:
        if self._confirming:
            return  # typed ahead of its own dialog: that dialog answers for it
        if self._sending:
            self.notify("Still sending: wait for the answer to the last payment.")
            return
        order, errors = self._order()
        if order is None:
            for field, message in errors.items():
                self.query_one(f"#{field}-error", Static).update(literal(message))
            self.notify("Fix the highlighted fields first.", severity="warning")
            return
        earlier = self._unresolved.get(order)
        if earlier is not None:
            self._open(order, earlier)  # the same order again: a retry under its id
        elif self._unresolved:
            self._check_earlier(order)
        else:
            self._open(order, str(uuid.uuid4()))

    def _check_earlier(self, order: Order) -> None:
        """Attempts are still unresolved and this is another order (a fixed typo, a new
        amount): find out what became of each before offering a second, separate payment.
        A new order with no word about the earlier one paid twice; so did forgetting an
        attempt that was "not recorded" yet (its request could still land)."""
        attempts = list(self._unresolved.items())
        self._confirming = True
        self._result("Looking up the earlier attempt first…", "")

        def look() -> list[tuple[Order, str, TransactionView | CPayError]]:
            found: list[tuple[Order, str, TransactionView | CPayError]] = []
            for earlier, payment_id in attempts:
                try:
                    found.append((earlier, payment_id, self.cpay.api.transaction(payment_id)))
                except CPayError as error:
                    found.append((earlier, payment_id, error))
            return found

        def looked(found: list[tuple[Order, str, TransactionView | CPayError]]) -> None:
            self._confirming = False
            made = [(earlier, tx) for earlier, _, tx in found if isinstance(tx, TransactionView)]
            for earlier, tx in made:
                self._unresolved.pop(earlier, None)
                self.cpay.payment_answered(tx.id, unknown=False)
            if made:
                self._result(
                    "\n".join(
                        f"Your earlier attempt is recorded: "
                        f"{format_amount(tx.amount_minor, tx.currency)} {tx.currency} to "
                        f"@{tx.to_handle} — {tx.status.value}. Id {tx.id}."
                        for _, tx in made
                    )
                    + "\nNothing new was sent: submit again if you want another payment.",
                    "ok",
                )
                self._load_funds()
                return
            warnings = []
            for earlier, payment_id, error in found:
                about = f"your earlier attempt ({earlier.preview()}, id {payment_id})"
                if isinstance(error, NotFound):
                    warnings.append(
                        f"{about[0].upper()}{about[1:]} is not recorded yet; if the engine is "
                        "still working on it, it may yet be made."
                    )
                else:
                    warnings.append(f"Whether {about} was made is not known yet.")
            warnings.append("Paying now is a second, separate payment.")
            self._open(order, str(uuid.uuid4()), " ".join(warnings))

        self.call_api(look, looked, group="earlier")

    def _open(self, order: Order, payment_id: str, warning: str = "") -> None:
        """The confirmation for `order` under `payment_id`, once the funds are read."""
        self._confirming = True
        if self.FROM_TREASURY:
            self._confirm(order, payment_id, warning)
            return

        # The dialog is the last look before money moves: its funds are read now.
        def read(balances: list[BalanceView]) -> None:
            self._learn_funds(balances)
            self._confirm(order, payment_id, warning)

        def unread(_error: CPayError) -> None:
            self._available = None  # unknown now: say nothing rather than something stale
            self._confirm(order, payment_id, warning)

        self.call_api(self.cpay.api.balances, read, group="confirm-funds", failed=unread)

    def _confirm(self, order: Order, payment_id: str, warning: str = "") -> None:
        retry = self._unresolved.get(order) == payment_id
        lines = [*self._preview_lines(order), f"Payment id {payment_id}"]
        if retry:
            lines.append("Retrying with the same id: it cannot be paid twice.")
        if warning:
            lines.insert(0, f"Warning: {warning}")

        def answered(confirmed: bool | None) -> None:
            self._confirming = False
            if confirmed:
                self._send(order, payment_id)
            elif retry:
                self._result(
                    "Cancelled: nothing more was sent. The earlier attempt may or may not have "
                    f"been made: submit again to retry it safely with the same id {payment_id}, "
                    "or look for it in History.",
                    "error",
                )
            else:
                self._result("Cancelled: nothing was sent.", "")

        self.app.push_screen(ConfirmScreen(f"{self.VERB}?", lines, self.VERB), answered)

    def _send(self, order: Order, payment_id: str) -> None:
        self._on_its_way = (order, payment_id)
        self.cpay.payment_sent(payment_id, order.preview())
        self.query_one("#submit", Button).disabled = True  # until the answer: _sending
        self._result(f"Sending {order.preview()}…", "")
        self.call_api(
            lambda: self.send(order, payment_id), self._sent, group="send", failed=self._send_failed
        )

    def operation(self) -> MoneyCall:
        """The PaymentsAPI call this form makes (pay; the admin form mints)."""
        return self.cpay.api.pay

    def send(self, order: Order, payment_id: str) -> PaymentResult:
        return self.operation()(
            payment_id=payment_id,
            recipient=order.recipient,
            amount_minor=order.amount_minor,
            currency=order.currency,
            memo=order.memo,
        )

    def _sent(self, result: PaymentResult) -> None:
        tx = result.transaction
        self._settled(unknown=False)
        self.query_one("#submit", Button).disabled = False
        again = " (already made earlier: this is the original result)" if result.replayed else ""
        self._result(
            f"Done: {format_amount(tx.amount_minor, tx.currency)} {tx.currency} to "
            f"@{tx.to_handle} — {tx.status.value}{again}. Id {tx.id}",
            "ok",
        )
        self.notify(f"{self.VERB}: {tx.status.value}", severity="information")
        for name in ("amount", "memo"):
            self.query_one(f"#{name}", Input).value = ""
        self._load_funds()

    def _send_failed(self, error: CPayError) -> None:
        unknown = isinstance(error, OutcomeUnknown | Unavailable)
        payment_id = self._settled(unknown=unknown)
        self.query_one("#submit", Button).disabled = False
        if unknown:
            self._result(
                f"{error.message}\nSubmit again to retry safely with the same id {payment_id}.",
                "error",
            )
        else:
            self._result(error.message, "error")
        self.notify(error.message, title=self.VERB, severity="error", markup=False)

    def _settled(self, *, unknown: bool) -> str:
        """The payment on its way got its answer: definite (resolved), or none in time
        (kept as unresolved, under its order). Returns its id."""
        assert self._on_its_way is not None
        order, payment_id = self._on_its_way
        self._on_its_way = None
        if unknown:
            self._unresolved[order] = payment_id
        else:
            self._unresolved.pop(order, None)
        self.cpay.payment_answered(payment_id, unknown=unknown)
        return payment_id

    def _result(self, text: str, kind: str) -> None:
        result = self.query_one("#result", Static)
        result.set_classes(kind)
        result.update(literal_lines(text.split("\n")))
        self.call_after_refresh(result.scroll_visible, animate=False)


class PayScreen(PaymentForm):
    VERB = "Pay"
