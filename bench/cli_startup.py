"""cli_startup: wall time of `cpay --help` and `cpay balance`, each a fresh process.

A fresh CPAY_HOME is initialized with `cpay init --handle bench`, keys in the encrypted
key file (CPAY_KEYSTORE=file); the passphrase reaches the child through its environment,
never its argv. After one warm-up of each command, rounds run bare `python -c pass`,
`cpay --help` and `cpay balance` in turn; each figure is the median of its runs, and its
ratio is to bare Python's median in the same run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.core import Benchmark, Figure, RunConfig, Target, median, safe_ratio

NAME = "cli_startup"
RUNS = 7
QUICK_RUNS = 1
HANDLE = "bench"
PASSPHRASE = "bench-passphrase"
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


def child_env(home: Path, pycache: Path) -> dict[str, str]:
    """The parent's environment minus any CPay settings, plus the bench wallet's.

    Bytecode goes to a private PYTHONPYCACHEPREFIX (so the warm-up leaves compiled
    modules for the timed runs, as `pip install` does, without writing into the source
    tree), even where the parent sets PYTHONDONTWRITEBYTECODE.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CPAY_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env.update(
        CPAY_HOME=str(home),
        CPAY_KEYSTORE="file",
        CPAY_KEY_PASSPHRASE=PASSPHRASE,
        PYTHONPYCACHEPREFIX=str(pycache),
    )
    return env


@dataclass(frozen=True, slots=True)
class Timing:
    wall_s: float
    cpu_s: float  # user + system of the child, from getrusage(RUSAGE_CHILDREN)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Timing:
    """Wall seconds from spawn to exit, and the child's CPU; raises if the command fails."""
    cpu = children_cpu_s()
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
    return Timing(elapsed, children_cpu_s() - cpu)


def run(config: RunConfig) -> list[Figure]:
    runs = QUICK_RUNS if config.quick else RUNS
    cpay = str(cpay_script())
    commands: dict[str, list[str]] = {
        "python": [sys.executable, "-c", "pass"],
        "--help": [cpay, "--help"],
        "balance": [cpay, "balance"],
    }
    samples: dict[str, list[Timing]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="cpay-bench-cli-") as tmp:
        home, cwd = Path(tmp) / "home", Path(tmp)
        env = child_env(home, Path(tmp) / "pycache")
        init = run_once([cpay, "init", "--handle", HANDLE], env, cwd)
        config.log(f"  cpay init: {init.wall_s:.3f} s (not a figure)")
        warm_up: dict[str, Timing] = {}
        if not config.quick:
            for name, argv in commands.items():  # page cache, bytecode
                warm_up[name] = run_once(argv, env, cwd)
            config.log(
                "  warm-up: " + ", ".join(f"{name} {t.wall_s:.3f} s" for name, t in warm_up.items())
            )
        for round_ in range(runs):
            for name, argv in commands.items():
                samples[name].append(run_once(argv, env, cwd))
            config.log(
                f"  round {round_ + 1}: "
                + ", ".join(
                    f"{name} {values[-1].wall_s:.3f} s (CPU {values[-1].cpu_s:.3f} s)"
                    for name, values in samples.items()
                )
            )
    walls = {name: [t.wall_s for t in timings] for name, timings in samples.items()}
    cpus = {name: median([t.cpu_s for t in timings]) for name, timings in samples.items()}
    bare = median(walls["python"])
    figures = []
    for name, label, target in (
        ("--help", "`cpay --help` wall time", HELP_TARGET),
        ("balance", "`cpay balance` wall time (local wallet, key file)", BALANCE_TARGET),
    ):
        measured = median(walls[name])
        notes = f"Median CPU time (user + sys) of the child: {cpus[name]:.3f} s, bare Python "
        notes += f"{cpus['python']:.3f} s."
        if name in warm_up:
            notes += f" Warm-up run (the first after `cpay init`): {warm_up[name].wall_s:.3f} s."
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
                samples=tuple(walls[name]),
                baseline_samples=tuple(walls["python"]),
                notes=notes,
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
        "therefore decrypts the device key file (scrypt) and opens the local engine. Bytecode "
        "is cached in a private `PYTHONPYCACHEPREFIX` (as an installed package has its `.pyc` "
        "files), even if the caller sets `PYTHONDONTWRITEBYTECODE`. After one "
        f"warm-up of each command, {RUNS} rounds of bare `python -c pass` (same interpreter, the "
        "baseline), `cpay --help` and `cpay balance`; medians. Ratio = cpay / bare Python "
        "(lower is better); the targets are on the absolute seconds."
    ),
    run=run,
)
