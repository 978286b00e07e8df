"""cli_startup: wall time of `cpay --help` and `cpay balance`, each a fresh process.

A fresh CPAY_HOME is initialized with `cpay init --handle bench`, keys in the encrypted
key file (CPAY_KEYSTORE=file); the passphrase reaches the child through its environment,
never its argv. After one warm-up of each command, rounds run bare `python -c pass`,
`cpay --help` and `cpay balance` in turn; each figure is the median of its runs, and its
ratio is to bare Python's median in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.core import Benchmark, Figure, RunConfig, Target, median, safe_ratio

NAME = "cli_startup"
RUNS = 7
QUICK_RUNS = 1
HANDLE = "bench"
PASSPHRASE = "bench-passphrase"  # noqa: S105 - a throwaway key file's passphrase
TIMEOUT_S = 120.0

HELP_TARGET = Target("measured", "<", 0.3, "s")
BALANCE_TARGET = Target("measured", "<", 0.5, "s")


class CommandFailed(RuntimeError):
    pass


def cpay_script() -> Path:
    """The `cpay` console script installed next to this interpreter (the venv's)."""
    script = Path(sys.executable).parent / "cpay"
    if not script.exists():
        raise FileNotFoundError(
            f"no cpay console script at {script}: run `make setup` (pip install -e .) first"
        )
    return script


def child_env(home: Path) -> dict[str, str]:
    """The parent's environment minus any CPay settings, plus the bench wallet's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPAY_")}
    env.update(
        CPAY_HOME=str(home),
        CPAY_KEYSTORE="file",
        CPAY_KEY_PASSPHRASE=PASSPHRASE,
    )
    return env


def run_once(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> float:
    """Wall seconds from spawn to exit; raises if the command fails."""
    start = time.perf_counter()
    done = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise CommandFailed(f"{' '.join(argv)} exited {done.returncode}: {message}")
    return elapsed


def run(config: RunConfig) -> list[Figure]:
    runs = QUICK_RUNS if config.quick else RUNS
    cpay = str(cpay_script())
    commands: dict[str, list[str]] = {
        "python": [sys.executable, "-c", "pass"],
        "--help": [cpay, "--help"],
        "balance": [cpay, "balance"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="cpay-bench-cli-") as tmp:
        home, cwd = Path(tmp) / "home", Path(tmp)
        env = child_env(home)
        init_s = run_once([cpay, "init", "--handle", HANDLE], env, cwd)
        config.log(f"  cpay init: {init_s:.3f} s (not a figure)")
        if not config.quick:
            for argv in commands.values():
                run_once(argv, env, cwd)  # warm-up: page cache, .pyc files
        for round_ in range(runs):
            for name, argv in commands.items():
                samples[name].append(run_once(argv, env, cwd))
            config.log(
                f"  round {round_ + 1}: "
                + ", ".join(f"{name} {values[-1]:.3f} s" for name, values in samples.items())
            )
    bare = median(samples["python"])
    figures = []
    for name, label, target in (
        ("--help", "`cpay --help` wall time", HELP_TARGET),
        ("balance", "`cpay balance` wall time (local wallet, key file)", BALANCE_TARGET),
    ):
        measured = median(samples[name])
        figures.append(
            Figure(
                benchmark=NAME,
                label=label,
                unit="s",
                measured=measured,
                baseline=bare,
                baseline_label="`python -c pass`, same interpreter",
                ratio=safe_ratio(measured, bare),
                ratio_label="cpay / bare python",
                target=target,
                samples=tuple(samples[name]),
                baseline_samples=tuple(samples["python"]),
            )
        )
    return figures


BENCHMARK = Benchmark(
    name=NAME,
    title="CLI start-up time",
    method=(
        "Wall time from spawn to exit of the venv's `cpay` console script, each run a fresh "
        "process (`subprocess.run`, output discarded). A fresh `CPAY_HOME` is initialized with "
        f"`cpay init --handle {HANDLE}` and `CPAY_KEYSTORE=file`; the key passphrase is passed "
        "in the child's environment (`CPAY_KEY_PASSPHRASE`), never on argv. `cpay balance` "
        "therefore decrypts the device key file (scrypt) and opens the local engine. After one "
        f"warm-up of each command, {RUNS} rounds of bare `python -c pass` (same interpreter, the "
        "baseline), `cpay --help` and `cpay balance`; medians. Ratio = cpay / bare Python "
        "(lower is better); the targets are on the absolute seconds."
    ),
    run=run,
)
