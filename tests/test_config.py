"""Settings: a bad value is one line naming its variable and what it accepts, and stops
only the commands that use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storemon.config import Settings, get_settings
from storemon.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No STOREMON_ variable and no .env file but the test's own."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("STOREMON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "STOREMON_PORT",
            "abc",
            "STOREMON_PORT='abc' is not valid: it takes an integer from 1 to 65535",
        ),
        ("STOREMON_PORT", "0", "it takes an integer from 1 to 65535"),
        ("STOREMON_MAX_BODY_BYTES", "1", "it takes an integer of at least 1024"),
        ("STOREMON_INBOX_INTERVAL_SECONDS", "0.5", "it takes a number of at least 1"),
        ("STOREMON_INTERPOLATION", "linear", "it takes one of 'nearest', 'previous'"),
        ("STOREMON_INBOX_ENABLED", "maybe", "it takes true or false"),
        ("STOREMON_LOG_FORMAT", "xml", "it takes one of 'text', 'json'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        get_settings()
    assert message in str(error.value)
    assert len(str(error.value).splitlines()) == 1
    assert str(error.value).startswith(f"{variable}=")


def test_a_bad_value_in_dot_env_says_so(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STOREMON_PORT=abc\n")
    with pytest.raises(ConfigError, match=r"STOREMON_PORT='abc' \(in \.env\) is not valid"):
        get_settings()


def test_a_setting_not_used_keeps_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREMON_PORT", "abc")
    monkeypatch.setenv("STOREMON_DB", "duckdb:///x.duckdb")
    settings = get_settings(uses=("db",))
    assert (settings.db, settings.port) == ("duckdb:///x.duckdb", 8080)
    with pytest.raises(ConfigError, match="STOREMON_PORT"):
        get_settings(uses=("db", "port"))


def test_an_override_is_checked_even_when_not_listed() -> None:
    with pytest.raises(ConfigError, match=r"STOREMON_PORT=.*given on the command line"):
        get_settings(uses=("db",), port=0)


def test_several_bad_values_give_a_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREMON_PORT", "abc")
    monkeypatch.setenv("STOREMON_REPORT_WORKERS", "0")
    with pytest.raises(ConfigError) as error:
        get_settings()
    lines = str(error.value).splitlines()
    assert [line.split("=")[0] for line in lines] == ["STOREMON_PORT", "STOREMON_REPORT_WORKERS"]


def test_a_long_or_hostile_value_is_cut_and_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREMON_PORT", "\x1b[2J" + "9" * 5000)
    with pytest.raises(ConfigError) as error:
        get_settings()
    text = str(error.value)
    assert "\x1b" not in text
    assert "\\x1b[2J" in text
    assert len(text) < 400


def test_unknown_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no such setting: prot"):
        get_settings(uses=("prot",))
    with pytest.raises(ValueError, match="no such setting: prot"):
        get_settings(prot=1)


def test_every_field_has_a_description() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
