"""The `cpay` console script's entry point: start-up settings for a short-lived process.

A command imports typer, the engine, protobuf and cryptography, allocating many
long-lived objects, and exits a moment later. The cyclic garbage collector's passes
during that start-up free nothing and cost about 10% of `cpay balance` (measured:
0.47 s → 0.43 s median), so the console script runs with it off. Commands that keep
running (`cpay ui`, `cpay server run`) call `long_running()` to turn it back on.
Tests import `cpay_cli.main` directly and never pass through here.
"""

from __future__ import annotations

import gc


def run() -> None:
    gc.disable()
    try:
        from cpay_cli.main import run as main

        main()
    except KeyboardInterrupt:  # before the commands' own handler is in place (imports)
        import sys

        print("cpay: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def long_running() -> None:
    """Collect cycles again from here on; objects alive now (modules, the app) are frozen
    out of every future collection."""
    gc.freeze()
    gc.enable()
