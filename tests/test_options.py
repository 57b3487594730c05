"""A user's options file."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.options import load

KNOWN = {"ReconnectWait": "ms", "AllowReconnect": "bool", "MaxReconnect": "count"}


def test_toml_and_json(tmp_path):
    (tmp_path / "o.toml").write_text("ReconnectWait = 500\nAllowReconnect = false\n")
    assert load(tmp_path / "o.toml", KNOWN) == {"ReconnectWait": 500, "AllowReconnect": False}
    (tmp_path / "o.json").write_text('{"MaxReconnect": -1}')
    assert load(tmp_path / "o.json", KNOWN) == {"MaxReconnect": -1}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("o.toml", "ReconnectWait = \n", "not valid TOML"),
        ("o.json", "{", "not valid JSON"),
        ("o.json", "[1]", "must hold a table"),
        ("o.toml", "Bogus = 1\n", "unknown option 'Bogus'"),
        ("o.toml", 'ReconnectWait = "fast"\n', "is not a duration in milliseconds"),
        ("o.toml", "ReconnectWait = true\n", "is not a duration in milliseconds"),
        ("o.toml", "AllowReconnect = 1\n", "is not true or false"),
        ("o.toml", "MaxReconnect = 2.5\n", "is not a whole number"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(UsageError) as e:
        load(tmp_path / name, KNOWN)
    assert message in e.value.line() and "\n" not in e.value.line()


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read options file"):
        load(tmp_path / "nope.toml", KNOWN)
