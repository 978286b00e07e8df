"""`cpay server init|migrate|run`: the gRPC server over the same engine the CLI runs locally."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from cpay_cli.commands.common import OutputOption, session
from cpay_cli.output import Format, emit_one, say
from cpay_cli.session import profile_db_url
from cpay_engine.errors import InvalidInput, NotFound

app = typer.Typer(help="Run a CPay server (gRPC) for remote clients.", no_args_is_help=True)


class JsonLines(logging.Formatter):
    """One JSON object per line, whatever the message holds (quotes, a traceback):
    log collectors parse every line."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        entry = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


DEFAULT_LISTEN = "127.0.0.1:50051"
DB_HELP = "sqlite:///PATH/TO/server.db or postgresql://USER@HOST/DB (password in ~/.pgpass)"


@app.command("init")
def init(
    ctx: typer.Context,
    db: str = typer.Option(..., "--db", help=DB_HELP),
    handle: str | None = typer.Option(None, "--handle", help="The first admin's handle."),
    output: Format = OutputOption,
) -> None:
    """Create the server's database, its first admin, and a profile that administers it
    directly (so `cpay admin …` works on this host whether or not the server runs)."""
    from cpay_cli.commands.wallet import create_local_wallet
    from cpay_engine.bootstrap import parse_db_url

    s = session(ctx)
    url = parse_db_url(db)
    if s.profile_name is None:
        s.profile_name = "server"
    profile = create_local_wallet(s, handle, db_url=url)
    say(
        f"Created the server database {url} with admin @{profile.default_user}; "
        f"profile '{profile.name}' administers it directly "
        f"(e.g. cpay --profile {profile.name} admin invite)."
    )
    row = {"profile": profile.name, "handle": profile.default_user, "db": str(url)}
    emit_one(row, output, [(k, k.title()) for k in row])


@app.command("migrate")
def migrate(db: str = typer.Option(..., "--db", help=DB_HELP)) -> None:
    """Apply pending schema migrations (safe while other servers start: it takes a lock)."""
    from cpay_engine.bootstrap import open_store, parse_db_url

    url = parse_db_url(db)
    store = open_store(url, migrate=True)
    store.close()
    say(f"{url} is at the current schema version")


@app.command("run")
def run(
    ctx: typer.Context,
    db: str = typer.Option(..., "--db", help=DB_HELP),
    listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help="HOST:PORT (port 0: any free)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate chain."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key."),
    reflection: bool = typer.Option(False, "--reflection", help="Enable server reflection."),
    workers: int = typer.Option(16, "--workers", help="Threads serving RPCs."),
    grace: float = typer.Option(
        10.0, "--grace", help="Seconds in-flight calls get to finish after SIGTERM/SIGINT."
    ),
) -> None:
    """Serve the engine over gRPC until SIGTERM/SIGINT (then finish in-flight calls)."""
    from cpay_cli.launch import long_running
    from cpay_engine.bootstrap import open_engine_at, parse_db_url
    from cpay_engine.rpc.server import TlsFiles, serve_until_signalled, start_server
    from cpay_engine.rpc.transport import parse_target

    s = session(ctx)
    url = parse_db_url(db)
    parse_target(listen, allow_any_port=True)
    if (tls_cert is None) != (tls_key is None):
        raise InvalidInput("TLS needs both --tls-cert and --tls-key")
    if not 1 <= workers <= 256:
        raise InvalidInput("--workers must be between 1 and 256")
    if not 0 <= grace <= 3600:
        raise InvalidInput("--grace must be between 0 and 3600 seconds")
    if url.path is not None and not url.path.exists():
        raise NotFound(f"{url.path} does not exist: create it with `cpay server init --db {db}`")
    holder = next(
        (
            p
            for p in s.config.profiles.values()
            if p.mode == "local" and p.engine_key is not None and profile_db_url(p) == url
        ),
        None,
    )
    if holder is None:
        raise NotFound(
            f"no profile on this machine holds the receipt key of {url}: "
            f"run the server where `cpay server init --db {db}` was run"
        )
    s.profile_name = holder.name
    engine_key = s.engine_key()  # fail now, not on the first payment
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    engine = open_engine_at(url, receipt_key=lambda: engine_key)
    long_running()
    tls = TlsFiles(tls_cert, tls_key) if tls_cert and tls_key else None
    running = start_server(engine, listen, tls=tls, reflection=reflection, max_workers=workers)
    host = listen.rpartition(":")[0]
    say(
        f"cpay server listening on {host}:{running.port} ({'TLS' if tls else 'plaintext'}), "
        f"database {url}; SIGTERM or Ctrl-C stops it"
    )
    sys.stderr.flush()
    stragglers = serve_until_signalled(running, grace_s=grace)
    if stragglers:
        # Their threads are still inside the engine (a long verify, a store lock held
        # by another process): closing it under them would crash the process, and
        # waiting for them could take minutes. Their clients were already told the call
        # was cancelled (an unknown outcome); an uncommitted transaction rolls back.
        say(
            f"cpay server stopped; {stragglers} call(s) still running in the engine after "
            "the grace period were abandoned (their clients were told the outcome is unknown)"
        )
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(0)
    engine.close()
    say("cpay server stopped")
