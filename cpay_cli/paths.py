"""Where CPay keeps its files: everything under CPAY_HOME when set, else platformdirs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    config: Path
    data: Path
    cache: Path
    keys: Path

    @classmethod
    def from_env(cls) -> Home:
        root = os.environ.get("CPAY_HOME")
        if root:
            base = Path(root).expanduser().absolute()
            return cls(base / "config", base / "data", base / "cache", base / "keys")
        import platformdirs

        data = Path(platformdirs.user_data_dir("cpay", appauthor=False))
        return cls(
            Path(platformdirs.user_config_dir("cpay", appauthor=False)),
            data,
            Path(platformdirs.user_cache_dir("cpay", appauthor=False)),
            data / "keys",
        )

    @property
    def config_file(self) -> Path:
        return self.config / "config.json"

    def wallet_db(self, profile: str) -> Path:
        return self.data / profile / "wallet.db"
