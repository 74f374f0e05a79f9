"""Configuration: defaults <- file <- environment <- command line, and the annotated file."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from trajotel.config import SECTIONS, Config, load_config
from trajotel.errors import ConfigError

ANNOTATED = Path(__file__).resolve().parents[1] / "collector" / "trajotel.toml"


def test_annotated_config_documents_every_field_with_its_default() -> None:
    raw = tomllib.loads(ANNOTATED.read_text())
    defaults = Config()
    for section in SECTIONS:
        fields = {f.name for f in dataclasses.fields(getattr(defaults, section))}
        assert set(raw[section]) == fields, f"[{section}] in {ANNOTATED.name} must list every field"
    loaded = load_config(ANNOTATED, environ={})
    for section in SECTIONS:
        assert getattr(loaded, section) == getattr(defaults, section)


def test_precedence_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'data_dir = "/from/file"\n[receive]\nhttp_port = 1111\ngrpc_port = 2222\nhost = "0.0.0.0"\n'
    )
    env = {
        "TRAJOTEL_RECEIVE_GRPC_PORT": "3333",
        "TRAJOTEL_RECEIVE_HOST": "10.0.0.1",
        "TRAJOTEL_SPOOL_FSYNC": "false",
        "TRAJOTEL_DATA_DIR": "/from/env",
    }
    cfg = load_config(path, overrides={"receive": {"host": "127.0.0.2", "http_port": None}}, environ=env)
    assert cfg.receive.http_port == 1111  # file only (a None override does not count)
    assert cfg.receive.grpc_port == 3333  # environment beats file
    assert cfg.receive.host == "127.0.0.2"  # command line beats both
    assert cfg.spool.fsync is False
    assert cfg.data_dir == Path("/from/env")
    assert load_config(path, environ=env, data_dir="/from/cli").data_dir == Path("/from/cli")


def test_embedded_store_lives_under_the_data_dir(tmp_path: Path) -> None:
    cfg = load_config(environ={}, data_dir=tmp_path)
    assert cfg.clickhouse_url == f"chdb://{tmp_path / 'clickhouse'}"
    assert cfg.spool_dir == tmp_path / "spool"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[receive]\nhttp_prot = 1\n", {}, "http_prot: unknown setting"),
        ("[recieve]\n", {}, "unknown section [recieve]"),
        ("[receive]\nhttp_port = 'abc'\n", {}, "expected int"),
        ("", {"TRAJOTEL_SPOOL_FSYNC": "maybe"}, "TRAJOTEL_SPOOL_FSYNC: expected true/false"),
        ("[receive\n", {}, "c.toml"),
    ],
)
def test_bad_configuration_says_where(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path, environ=env)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
