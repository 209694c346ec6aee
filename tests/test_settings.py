"""settings.py: typed defaults, precedence environment > .env > default, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import settings


@pytest.fixture
def env_file(tmp_path, monkeypatch):
    """Point settings at a temporary .env and clear the environment overrides for the named settings."""
    path = tmp_path / ".env"
    monkeypatch.setattr(settings, "ENV_FILE", path)

    def write(text: str, *names: str) -> Path:
        for name in names:
            monkeypatch.delenv(name, raising=False)
        path.write_text(text)
        return path

    return write


def test_defaults_are_typed_and_consistent(monkeypatch):
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setattr(settings, "ENV_FILE", Path("/nonexistent/.env"))
    values = settings.load()
    assert values["TRAIN_END"] == pd.Timestamp("2005-12-31")
    assert values["START_DATE"] == pd.Timestamp("1990-01-01")
    assert values["MIN_DAYS"] == 10
    assert values["COST_BPS"] == [0.0, 10.0, 25.0, 50.0]
    assert values["MAX_LEVERAGE"] is None
    assert values["ALLOW_PARTIAL_MONTHS"] is False
    assert values["TICKERS"] == []
    assert values["DATA_DIR"] == settings.PROJECT_ROOT / "data"


def test_env_file_is_read_and_environment_overrides_it(env_file, monkeypatch):
    env_file("MIN_DAYS=15\nTICKERS=AAPL, MSFT\nTRAIN_END=2010-06-30\n", "MIN_DAYS", "TICKERS", "TRAIN_END")
    assert settings.get("MIN_DAYS") == 15
    assert settings.TICKERS == ["AAPL", "MSFT"]
    monkeypatch.setenv("MIN_DAYS", "12")
    assert settings.get("MIN_DAYS") == 12
    sources = {name: source for name, _, source, _ in settings.describe()}
    assert sources["MIN_DAYS"] == "environment"
    assert sources["TICKERS"] == ".env"
    assert sources["TRAIN_END"] == ".env"


def test_env_file_is_found_by_absolute_path_not_cwd(monkeypatch, tmp_path):
    assert settings.ENV_FILE == settings.PROJECT_ROOT / ".env"
    (tmp_path / ".env").write_text("MIN_DAYS=99\n")  # a stray .env in the working directory is ignored
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIN_DAYS")
    monkeypatch.setattr(settings, "ENV_FILE", tmp_path / "project" / ".env")
    assert settings.get("MIN_DAYS") == 10


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MIN_DAYS", "ten", "Setting MIN_DAYS='ten' (from environment) is invalid: expected a whole number."),
        ("EQUITY_SOURCE", "bloomberg", "accepted values are embedded | yahoo | files"),
        ("TRAIN_END", "2005-13-45", "expected a date like 2005-12-31"),
        ("MAX_LEVERAGE", "-1", "MAX_LEVERAGE='-1' (from environment) is invalid: expected a positive number"),
        ("MAX_LEVERAGE", "0", "expected a positive number"),
        ("ALLOW_PARTIAL_MONTHS", "maybe", "expected true or false"),
        ("COST_BPS", "0,ten", "comma-separated list of numbers"),
        ("MIN_DAYS", "1", "a variance needs at least 2 days"),
        ("EWMA_LAMBDA", "1.5", "strictly between 0 and 1"),
    ],
)
def test_bad_value_fails_with_one_line_naming_setting_value_and_accepted(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as info:
        settings.load()
    message = str(info.value)
    assert expected in message
    assert name in message and "\n" not in message


@pytest.mark.parametrize("train_end", ["1989-12-31", "2019-01-31"])
def test_train_end_outside_the_window_is_rejected(monkeypatch, train_end):
    monkeypatch.setenv("TRAIN_END", train_end)
    with pytest.raises(settings.SettingsError, match="TRAIN_END=.* must fall inside the sample"):
        settings.load()


def test_secrets_are_hidden_in_describe(monkeypatch):
    monkeypatch.setattr(settings, "SETTINGS", settings.SETTINGS + (settings.Setting("FRED_API_KEY", "str", "", "key"),))
    monkeypatch.setenv("FRED_API_KEY", "abc123")
    shown = {name: value for name, value, _, _ in settings.describe()}
    assert shown["FRED_API_KEY"] == "****"


def test_env_example_lists_every_setting_with_its_default():
    text = (settings.PROJECT_ROOT / ".env.example").read_text()
    for setting in settings.SETTINGS:
        assert f"\n{setting.name}={setting.default}\n" in text, setting.name
