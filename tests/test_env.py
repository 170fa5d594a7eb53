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


def _settings_in(tmp_path, **environment: str):
    import subprocess
    import sys

    code = (
        "import json, carnet.settings as s; print(json.dumps({k: getattr(s, k) for k in dir(s) "
        "if k.startswith('CARNET_MSS_')}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": "src", "CARNET_VAR_DIR": str(tmp_path), **environment},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_messaging_settings_come_from_the_environment(tmp_path):
    import json

    result = _settings_in(
        tmp_path,
        CARNET_MSS_TRUSTED_DOMAINS="mssante.fr, hopital.exemple",
        CARNET_MSS_GATEWAY_PORT="2526",
        CARNET_MSS_RELAY_STARTTLS="yes",
        CARNET_MSS_MAX_ATTACHMENT_BYTES="1048576",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["CARNET_MSS_TRUSTED_DOMAINS"] == ["mssante.fr", "hopital.exemple"]
    assert values["CARNET_MSS_GATEWAY_PORT"] == 2526
    assert values["CARNET_MSS_RELAY_STARTTLS"] is True
    assert values["CARNET_MSS_MAX_ATTACHMENT_BYTES"] == 1048576
    assert values["CARNET_MSS_PATIENT_DOMAIN"] == "mssante.fr"
    assert values["CARNET_MSS_MAX_MESSAGE_BYTES"] == 20 * 1024 * 1024


def test_a_malformed_messaging_setting_stops_the_process(tmp_path):
    result = _settings_in(tmp_path, CARNET_MSS_GATEWAY_PORT="vingt-cinq")
    assert result.returncode != 0
    assert "CARNET_MSS_GATEWAY_PORT" in result.stderr
