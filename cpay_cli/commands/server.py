"""`cpay server init|run`: the gRPC server over the same engine the CLI runs locally."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from cpay_cli.commands.common import OutputOption, session
from cpay_cli.output import Format, emit_one, say
from cpay_engine.errors import InvalidInput, NotFound

app = typer.Typer(help="Run a CPay server (gRPC) for remote clients.", no_args_is_help=True)

DEFAULT_LISTEN = "127.0.0.1:50051"


def _sqlite_path(db: str) -> Path:
    from cpay_engine.bootstrap import parse_db_url

    url = parse_db_url(db)
    if url.scheme != "sqlite" or url.path is None:
        raise InvalidInput(f"{db}: only sqlite:///PATH databases are supported by this build")
    return url.path


@app.command("init")
def init(
    ctx: typer.Context,
    db: str = typer.Option(..., "--db", help="sqlite:///PATH/TO/server.db"),
    handle: str | None = typer.Option(None, "--handle", help="The first admin's handle."),
    output: Format = OutputOption,
) -> None:
    """Create the server's database, its first admin, and a profile that administers it
    directly (so `cpay admin …` works on this host whether or not the server runs)."""
    from cpay_cli.commands.wallet import create_local_wallet

    s = session(ctx)
    path = _sqlite_path(db)
    if s.profile_name is None:
        s.profile_name = "server"
    profile = create_local_wallet(s, handle, db_path=path)
    say(
        f"Created the server database {path} with admin @{profile.default_user}; "
        f"profile '{profile.name}' administers it directly "
        f"(e.g. cpay --profile {profile.name} admin invite)."
    )
    row = {"profile": profile.name, "handle": profile.default_user, "db": profile.db}
    emit_one(row, output, [(k, k.title()) for k in row])


@app.command("run")
def run(
    ctx: typer.Context,
    db: str = typer.Option(..., "--db", help="sqlite:///PATH/TO/server.db"),
    listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help="HOST:PORT (port 0: any free)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate chain."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key."),
    reflection: bool = typer.Option(False, "--reflection", help="Enable server reflection."),
    workers: int = typer.Option(16, "--workers", help="Threads serving RPCs."),
) -> None:
    """Serve the engine over gRPC until SIGTERM/SIGINT (then finish in-flight calls)."""
    from cpay_engine.bootstrap import open_local_engine
    from cpay_engine.rpc.server import TlsFiles, serve_until_signalled, start_server
    from cpay_engine.rpc.transport import parse_target

    s = session(ctx)
    path = _sqlite_path(db)
    parse_target(listen)
    if (tls_cert is None) != (tls_key is None):
        raise InvalidInput("TLS needs both --tls-cert and --tls-key")
    if not 1 <= workers <= 256:
        raise InvalidInput("--workers must be between 1 and 256")
    if not path.exists():
        raise NotFound(f"{path} does not exist: create it with `cpay server init --db {db}`")
    holder = next(
        (
            p
            for p in s.config.profiles.values()
            if p.mode == "local" and p.engine_key is not None and Path(p.db) == path
        ),
        None,
    )
    if holder is None:
        raise NotFound(
            f"no profile on this machine holds the receipt key of {path}: "
            f"run the server where `cpay server init --db {db}` was run"
        )
    s.profile_name = holder.name
    engine_key = s.engine_key()  # fail now, not on the first payment
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format='{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}',
    )
    engine = open_local_engine(path, receipt_key=lambda: engine_key)
    tls = TlsFiles(tls_cert, tls_key) if tls_cert and tls_key else None
    running = start_server(engine, listen, tls=tls, reflection=reflection, max_workers=workers)
    host = listen.rpartition(":")[0]
    say(
        f"cpay server listening on {host}:{running.port} ({'TLS' if tls else 'plaintext'}), "
        f"database {path}; SIGTERM or Ctrl-C stops it"
    )
    sys.stderr.flush()
    serve_until_signalled(running)
    engine.close()
    say("cpay server stopped")
