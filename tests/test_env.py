"""Settings helpers fail loudly on malformed values."""

import pytest

from carnet.env import ConfigurationError, env_bool, env_choice, env_int, env_list, env_str


def test_str_reads_a_file_variant(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.setenv("SOME_SECRET_FILE", str(secret))
    assert env_str("SOME_SECRET") == "from-a-file"


def test_missing_mandatory_value_names_the_variable(monkeypatch):
    monkeypatch.delenv("MANDATORY_THING", raising=False)
    with pytest.raises(ConfigurationError, match="MANDATORY_THING must be set"):
        env_str("MANDATORY_THING")


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("0", False), ("Yes", True), ("off", False)]
)
def test_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", default=not expected) is expected


def test_malformed_values_are_refused(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ConfigurationError, match="FLAG"):
        env_bool("FLAG", default=False)
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ConfigurationError, match="COUNT"):
        env_int("COUNT", 1)
    monkeypatch.setenv("MODE", "chaos")
    with pytest.raises(ConfigurationError, match="must be one of"):
        env_choice("MODE", "dev", {"dev", "production"})


def test_list(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_production_refuses_the_development_secret(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import carnet.settings"],
        env={"CARNET_MODE": "production", "PYTHONPATH": "src", "CARNET_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
