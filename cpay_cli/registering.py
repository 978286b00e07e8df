"""Registering a new device key with the engine without ever losing it.

A rotation, a new local user and an enrollment each send a new public key to the engine
and then record the key in the profile. If the answer is lost (a timeout, Ctrl-C, the
process killed) the engine may have registered the key — and, for a rotation, revoked
the old one. Deleting the new key then would lock the user out for good. So:

1. the key is saved (and read back), and noted in the profile as *pending* for its
   handle, before anything is sent;
2. a definite refusal (any CPayError but OutcomeUnknown: the engine said no, or nothing
   was sent) removes both again;
3. success makes it the handle's key (`Profile.adopt`);
4. anything else leaves it pending, and the next command that opens the profile asks
   the engine with that key whether it knows it (`Session.settle_pending`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from cpay_cli.profiles import Config, KeyRef, Profile, registering
from cpay_engine.errors import CPayError, FailedPrecondition, OutcomeUnknown
from cpay_engine.service.engine import wall_clock_ms

if TYPE_CHECKING:
    from cpay_cli.session import Session
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import Backend

T = TypeVar("T")


def may_have_applied(exc: BaseException) -> bool:
    """After sending: could the engine have applied the request that failed with `exc`?
    A CPayError is a definite answer (the engine refused, or nothing was sent), except
    OutcomeUnknown; anything else (Ctrl-C, a crash) may have come after its commit."""
    return not isinstance(exc, CPayError) or isinstance(exc, OutcomeUnknown)


def register_key(
    s: Session,
    name: str,
    handle: str,
    key: SigningKey,
    backend: Backend,
    send: Callable[[], T],
    *,
    new_profile: Profile | None = None,
    also: Callable[[Profile, T], None] | None = None,
    check: Callable[[Config], None] | None = None,
) -> T:
    """Save `key`, note it as pending for `handle` in profile `name`, run `send` (the
    request that registers it), then make it `handle`'s key; see the module docstring.
    `check` looks at the config as it is once this command holds the profile's
    registration lock (another command may have changed it meanwhile) and raises to stop
    before anything is sent; `new_profile` replaces the profile while pending (an
    enrolment creates one); `also` makes further changes along with the adoption."""
    with registering(s.config, name):
        key_name = s.key_name(name, handle, key.key_id)
        ref = KeyRef(key.key_id, backend.value, wall_clock_ms())
        before: list[Profile | None] = []

        def stage(c: Config) -> None:
            if check is not None:
                check(c)
            current = c.profiles.get(name)
            if current is not None and handle in current.pending:
                raise FailedPrecondition(
                    f"a key for @{handle} sent by an earlier command is waiting to be settled: "
                    "run the command again in a few minutes (or any cpay command once the engine "
                    "answers)"
                )
            before.append(current)
            profile = new_profile if new_profile is not None else c.get(name)
            profile.pending[handle] = ref
            c.profiles[name] = profile

        def unstage(c: Config) -> None:
            profile = c.profiles.get(name)
            if profile is None or profile.pending.get(handle) != ref:
                return
            if new_profile is None:
                del profile.pending[handle]
            elif before[0] is None:
                del c.profiles[name]
            else:
                c.profiles[name] = before[0]

        s.keystore.save(key_name, key, backend)
        try:
            s.config.change(stage)
        except BaseException:
            s.keystore.delete(key_name, backend)
            raise
        try:
            result = send()
        except BaseException as exc:
            if not may_have_applied(exc):
                s.config.change(unstage)
                s.keystore.delete(key_name, backend)
                raise
            if isinstance(exc, OutcomeUnknown):
                raise OutcomeUnknown(
                    f"{exc.message.removesuffix(': check before retrying')}. The new key "
                    f"{key.key_id} is kept: the next cpay command on profile '{name}' asks the "
                    "engine whether it registered it, and goes on with the right key",
                    details=exc.details,
                ) from None
            if isinstance(exc, KeyboardInterrupt):
                raise KeyboardInterrupt(
                    f"interrupted after sending the new key {key.key_id}: the next cpay command "
                    f"on profile '{name}' asks the engine whether it registered it"
                ) from None
            raise

        def adopt(c: Config) -> None:
            # The engine said yes: the key is handle's, whatever the config says meanwhile.
            profile = c.profiles.get(name)
            if profile is None:
                profile = new_profile if new_profile is not None else Profile(name=name)
                c.profiles[name] = profile
            profile.adopt(handle, ref)
            if also is not None:
                also(profile, result)

        try:
            s.config.change(adopt)
        except FailedPrecondition as exc:
            raise FailedPrecondition(
                f"{exc.message}. The engine did register key {key.key_id} for @{handle}: the "
                "next cpay command switches to it once it can write the config file"
            ) from None
        return result
