"""Settings of an installation, from the environment (PHM_*) or a .env file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Engine = Literal["duckdb", "spark"]


class Settings(BaseSettings):
    """Where the data lives, which engine runs, which place, and the pseudonym key."""

    model_config = SettingsConfigDict(env_prefix="PHM_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path("phm-data"), description="the data folder")
    engine: Engine = "duckdb"
    place: str = Field(default="southwark", description="shipped place name or a YAML path")
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="key of the keyed hash for identifiers; when unset, one is made "
        "and kept in HOME/secrets/pseudonym.key",
    )

    def key(self) -> bytes:
        """The pseudonymisation key: from the environment, else the data folder's own."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        path = self.home / "secrets" / "pseudonym.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
