from pathlib import Path

import pytest

from phm.config import Settings


def test_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    first = settings.key()
    assert len(first) == 64
    assert Settings(home=tmp_path).key() == first
    path = tmp_path / "secrets" / "pseudonym.key"
    assert path.stat().st_mode & 0o777 == 0o600


def test_key_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHM_PSEUDONYM_KEY", "from-the-vault")
    assert Settings(home=tmp_path).key() == b"from-the-vault"
    assert not (tmp_path / "secrets").exists()
