"""One CLI invocation's view of the world: home, profile, acting user, keys, engine.

Everything is opened lazily, so `cpay --help` touches no file and imports no engine.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cpay_cli.paths import Home
from cpay_cli.preload import importer
from cpay_cli.profiles import DEFAULT_PROFILE, Config, KeyRef, Profile, check_profile_name
from cpay_engine.errors import Cancelled, InvalidInput, Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Callable

    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import KeyStore
    from cpay_engine.api import EngineKeyView, PaymentsAPI
    from cpay_engine.bootstrap import DbUrl
    from cpay_engine.client import Transport

# A pending key the engine does not know is dropped only this long after its request was
# sent: the client's own retries (~45 s), the engine's freshness window (300 s, after which
# no envelope of that request is accepted) and its longest wait for the store (busy
# timeout and retries), with a margin.
SETTLE_AFTER_MS = 10 * 60 * 1000

KEY_UNLOCK_HELP = (
    "set CPAY_KEY_PASSPHRASE, or CPAY_KEY_PASSPHRASE_FILE to a file holding it, "
    "or run in a terminal to be asked"
)


class Passphrase:
    """Environment, then a file, then a prompt on a TTY; asked once per invocation."""

    def __init__(self) -> None:
        self._cached: str | None = None

    def __call__(self, confirm: bool) -> str:
        if self._cached is not None:
            return self._cached
        value = os.environ.get("CPAY_KEY_PASSPHRASE")
        path = os.environ.get("CPAY_KEY_PASSPHRASE_FILE")
        if not value and path:
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise Unauthenticated(f"cannot read CPAY_KEY_PASSPHRASE_FILE ({exc})") from None
            except UnicodeDecodeError:
                raise Unauthenticated(
                    f"CPAY_KEY_PASSPHRASE_FILE ({path}) is not UTF-8 text: put the passphrase "
                    "in it as a line of text"
                ) from None
        if not value:
            value = self._prompt(confirm)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes in the environment variable
            raise Unauthenticated(
                "CPAY_KEY_PASSPHRASE is not UTF-8 text: set it to the passphrase as text "
                "(or use CPAY_KEY_PASSPHRASE_FILE)"
            ) from None
        self._cached = value
        return value

    @staticmethod
    def _prompt(confirm: bool) -> str:
        # The prompt talks to the terminal itself (/dev/tty), so stdin may be a pipe (an
        # invite code piped in) as long as someone is at a terminal to answer.
        if not (sys.stdin.isatty() or sys.stderr.isatty()):
            what = (
                "a new key file needs a passphrase"
                if confirm
                else "the device key is in an encrypted key file"
            )
            raise Unauthenticated(f"{what} and no passphrase is available: " + KEY_UNLOCK_HELP)
        if not confirm:
            return _read_secret("Passphrase for the CPay key file: ")
        first = _read_secret("Choose a passphrase for the CPay key file: ")
        if not first:
            raise Unauthenticated("an empty passphrase cannot protect a key file")
        if _read_secret("Repeat it: ") != first:
            raise Unauthenticated("the passphrases did not match; nothing was saved")
        return first


def _read_secret(prompt: str) -> str:
    """A passphrase, not echoed; Ctrl-D a cancel (exit 3), Ctrl-C (exit 130) starting a new
    line."""
    from cpay_cli.prompt import ask_secret

    try:
        return ask_secret(prompt)
    except EOFError:
        sys.stderr.write("\n")
        raise Cancelled("no passphrase given (end of input): nothing was done") from None
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise


def profile_db_url(profile: Profile) -> DbUrl:
    """A local profile's database: a SQLite path, or a PostgreSQL URL (server admin)."""
    from cpay_engine.bootstrap import DbUrl, parse_db_url

    if profile.db.startswith(("postgresql://", "postgres://")):
        return parse_db_url(profile.db)
    return DbUrl("sqlite", Path(profile.db))


@dataclass
class Session:
    profile_name: str | None = None
    as_handle: str | None = None
    debug: bool = False
    home: Home = field(default_factory=Home.from_env)
    _config: Config | None = None
    _keystore: KeyStore | None = None
    _api: PaymentsAPI | None = None
    # (profile, handle) whose pending key this command found registered and adopted
    adopted: set[tuple[str, str]] = field(default_factory=set)
    passphrase: Passphrase = field(default_factory=Passphrase)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load(self.home.config_file)
        return self._config

    def chosen_profile_name(self) -> str:
        # An empty --profile or --as is a script's unset variable, not "the default": the
        # default profile or user is another wallet, another payer. (An empty
        # CPAY_PROFILE counts as unset, as empty environment variables usually do.)
        if self.profile_name is not None and not self.profile_name.strip():
            raise InvalidInput("--profile is empty: name a profile, or leave --profile out")
        name = self.profile_name or os.environ.get("CPAY_PROFILE") or self.config.current
        return check_profile_name(name or DEFAULT_PROFILE)

    @property
    def profile(self) -> Profile:
        return self.config.get(self.chosen_profile_name())

    @property
    def keystore(self) -> KeyStore:
        if self._keystore is None:
            from cpay_engine.adapters.keystore import KeyStore, check_preference

            check_preference(os.environ.get("CPAY_KEYSTORE"))

            self._keystore = KeyStore(self.home.keys, self.passphrase)
        return self._keystore

    @staticmethod
    def key_name(profile: str, owner: str, key_id: str) -> str:
        return f"{profile}/{owner}/{key_id}"

    def acting_handle(self) -> str:
        profile = self.profile
        if self.as_handle is not None and not self.as_handle.strip():
            default = f" to act as @{profile.default_user}" if profile.default_user else ""
            raise InvalidInput(
                "--as is empty: name a user whose key is on this device, or leave --as "
                f"out{default}"
            )
        if self.as_handle is not None:
            from cpay_engine.domain.model import parse_handle

            handle = parse_handle(self.as_handle)  # 'x y' is no handle: exit 2, not "no key"
        else:
            handle = profile.default_user
        if not handle:
            raise Unauthenticated(
                f"profile '{profile.name}' has no user on this device yet: run "
                f"`cpay --profile {profile.name} init` (or pass --as HANDLE)"
            )
        if handle not in profile.users:
            known = ", ".join(f"@{h}" for h in sorted(profile.users)) or "none"
            raise Unauthenticated(
                f"no device key for @{handle} in profile '{profile.name}' (keys here: {known})"
            )
        return handle

    def device_key(
        self, handle: str | None = None, meanwhile: Callable[[], object] | None = None
    ) -> SigningKey:
        """The acting (or `handle`'s) device key; `meanwhile` runs while it unlocks."""
        from cpay_engine.adapters.keystore import Backend

        profile = self.profile
        handle = handle or self.acting_handle()
        ref = profile.users[handle]
        name = self.key_name(profile.name, handle, ref.key_id)
        return self.keystore.load(name, ref.key_id, Backend(ref.keystore), meanwhile)

    def current_key(self, handle: str) -> SigningKey | None:
        """`handle`'s device key as the config file names it now (another command may
        have rotated it since this one started, or left its new key pending: settled
        first), or None if it names none."""
        from cpay_engine.adapters.keystore import Backend

        name = self.profile.name
        self._config = None  # re-read: another command may have changed it since
        profile = self.config.profiles.get(name)
        if profile is not None and handle in profile.pending:
            self.settle_pending()  # updates self.config
            profile = self.config.profiles.get(name)
        ref = profile.users.get(handle) if profile is not None else None
        if ref is None:
            return None
        key_name = self.key_name(name, handle, ref.key_id)
        return self.keystore.load(key_name, ref.key_id, Backend(ref.keystore))

    def engine_key(self) -> SigningKey:
        from cpay_engine.adapters.keystore import Backend

        profile = self.profile
        if profile.engine_key is None:
            raise Unauthenticated(f"profile '{profile.name}' has no engine key to sign receipts")
        ref = profile.engine_key
        name = self.key_name(profile.name, "engine", ref.key_id)
        return self.keystore.load(name, ref.key_id, Backend(ref.keystore))

    def api(self, *also: str) -> PaymentsAPI:
        """The acting user's PaymentsAPI. The modules it needs, and `also` (a front end's),
        are imported while the key unlocks (see cpay_cli.preload)."""
        if self._api is None:
            if self.profile.pending:
                self.settle_pending()
            profile = self.profile
            if profile.mode == "remote":
                self._api = self._remote_api(profile, also)
            else:
                modules = ("cpay_engine.bootstrap", "cpay_engine.client", *also)
                key = self.device_key(meanwhile=importer(*modules))
                from cpay_engine.client import SignedClient

                handle = self.acting_handle()
                self._api = SignedClient(
                    self._transport(profile), key, rekey=lambda: self.current_key(handle)
                )
        return self._api

    def _remote_api(self, profile: Profile, also: tuple[str, ...]) -> PaymentsAPI:
        handle = self.acting_handle()
        modules = ("cpay_engine.rpc.transport", "cpay_cli.cache", *also)  # grpc: ~0.2 s
        key = self.device_key(handle, meanwhile=importer(*modules))
        import sqlite3

        from cpay_cli.cache import CachingEngine, HistoryCache
        from cpay_cli.output import say
        from cpay_engine.client import RetryPolicy, SignedClient

        remote = SignedClient(
            self._transport(profile),
            key,
            retry=RetryPolicy(attempts=4),
            rekey=lambda: self.current_key(handle),
        )
        path = self.home.cache / profile.name / f"{handle}.db"
        try:
            wallet = ",".join(sorted(profile.engine_public_keys))
            cache = HistoryCache(path, warn=say, wallet=wallet)
        except sqlite3.Error as exc:  # busy past its timeout: this command goes without it
            say(f"warning: the history cache {path} cannot be opened ({exc}); going on without it")
            return remote
        return CachingEngine(remote, cache, warn=say)

    def settle_pending(self) -> None:
        """Settle the keys this profile sent to the engine without hearing back
        (Profile.pending, cpay_cli.registering). The engine answers a request signed
        with such a key if it registered it: the key is adopted. As revoked if it
        registered it and a later revocation ended it: adopted too (the truth, which the
        next request hears). As unknown if it has not (yet): the key is dropped only once
        the request that carried it can no longer be applied (SETTLE_AFTER_MS after it
        was sent); until then, and on any other answer (unreachable, ...), it stays for a
        later command. A command still sending one (it holds the profile's registration
        lock) is left alone."""
        from cpay_cli.output import say
        from cpay_cli.profiles import registering

        profile = self.profile
        with registering(self.config, profile.name, wait=False) as free:
            if not free:
                return  # another command is registering a key of this profile right now
            transport = self._transport(profile)
            try:
                for handle, ref in list(profile.pending.items()):
                    verdict = self._ask_about(transport, profile.name, handle, ref)
                    if verdict is None:
                        continue
                    registered, engine_keys, note = verdict
                    self._settle(profile.name, handle, ref, registered, engine_keys)
                    if registered:
                        self.adopted.add((profile.name, handle))
                    sent = f"key {ref.key_id} for @{handle}, sent earlier without an answer"
                    say(f"note: {sent}, {note}")
            finally:
                transport.close()

    def _ask_about(
        self, transport: Transport, name: str, handle: str, ref: KeyRef
    ) -> tuple[bool, tuple[EngineKeyView, ...], str] | None:
        """(registered, the engine's receipt keys, what to tell) for a pending key, or
        None to leave it pending."""
        from cpay_engine.adapters.keystore import Backend
        from cpay_engine.client import SignedClient
        from cpay_engine.errors import KEY_REVOKED, UNKNOWN_KEY, CPayError, Unauthenticated
        from cpay_engine.service.engine import wall_clock_ms

        key_name = self.key_name(name, handle, ref.key_id)
        backend = Backend(ref.keystore)
        if backend is Backend.FILE and not self.keystore.path_for(key_name).exists():
            return False, (), "has no key file on this device any more: it is dropped"
        key = self.keystore.load(key_name, ref.key_id, backend)
        try:
            engine_keys = SignedClient(transport, key).account().engine_keys
        except Unauthenticated as exc:
            reason = exc.details.get("reason")
            if reason == KEY_REVOKED:
                return True, (), "was registered (and revoked since): this device holds it now"
            if reason != UNKNOWN_KEY:
                return None
            if wall_clock_ms() - ref.sent_at_ms < SETTLE_AFTER_MS:
                return None  # its request may still be on its way or queued at the engine
            return False, (), "was never registered: it is dropped (nothing changed on the engine)"
        except CPayError:
            return None
        return True, engine_keys, "was registered: this device signs with it now"

    def _settle(
        self,
        name: str,
        handle: str,
        ref: KeyRef,
        registered: bool,
        engine_keys: tuple[EngineKeyView, ...],
    ) -> None:
        from cpay_engine.adapters.keystore import Backend

        replaced: list[KeyRef] = []

        def edit(c: Config) -> None:
            profile = c.profiles.get(name)
            if profile is None or profile.pending.get(handle) != ref:
                return  # settled meanwhile by another command
            if not registered:
                del profile.pending[handle]
                return
            old = profile.adopt(handle, ref)
            if old is not None and old != ref:
                replaced.append(old)
            if profile.mode == "remote" and not profile.engine_public_keys:
                profile.engine_public_keys = {k.key_id: k.public_key.hex() for k in engine_keys}

        self.config.change(edit)
        gone = replaced if registered else [ref]
        for key in gone:
            self.keystore.delete(self.key_name(name, handle, key.key_id), Backend(key.keystore))

    def _transport(self, profile: Profile) -> Transport:
        """A transport to the profile's engine, for requests signed with any key."""
        if profile.mode == "remote":
            from cpay_engine.rpc.transport import GrpcTransport

            ca = Path(profile.ca) if profile.ca else None
            return GrpcTransport(profile.server, ca_file=ca)
        from cpay_engine.bootstrap import open_engine_at
        from cpay_engine.client import InProcessTransport

        engine = open_engine_at(profile_db_url(profile), receipt_key=self.engine_key)
        return InProcessTransport(engine)

    def trusted_engine_keys(self) -> tuple[EngineKeyView, ...]:
        """Receipt keys: pinned at enrollment (remote), or the wallet's own (local)."""
        from cpay_engine.api import EngineKeyView

        profile = self.profile
        if profile.mode == "remote":
            return tuple(
                EngineKeyView(k, bytes.fromhex(v)) for k, v in profile.engine_public_keys.items()
            )
        return self.api().account().engine_keys

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
