"""Shared options: the Neo4j connection (flags > environment > kgtag.toml > defaults) and --json.

kgtag.toml (in the working directory, or named with --config):

    [neo4j]
    uri = "bolt://127.0.0.1:7687"
    user = "neo4j"
    password = "secret"
    database = "neo4j"

    [kgtag]
    runs_dir = "runs"

It can hold the password, so keep it private (`chmod 600 kgtag.toml`; kgtag warns otherwise) and out of
git (.gitignore lists it).
"""

from __future__ import annotations

import functools
import stat
import tomllib
from pathlib import Path
from typing import Any

import click

from kgtag.kgstore.store import Settings, Store

from .output import CliError, info

CONFIG_NAME = "kgtag.toml"


def load_config(path: str | Path | None) -> dict[str, Any]:
    """The parsed config file: the one named, else ./kgtag.toml if present, else {}."""
    if path is None:
        path = Path(CONFIG_NAME)
        if not path.is_file():
            return {}
    path = Path(path)
    try:
        config = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise CliError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise CliError(f"config file {path} is a directory") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                       "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise CliError(f"{path}: nested too deep (kgtag.toml holds two flat tables, [neo4j] and [kgtag])") from None
    check_config(config, path)
    if "password" in config.get("neo4j", {}) and stat.S_IMODE(path.stat().st_mode) & 0o077:
        info(f"warning: {path} holds the Neo4j password and other users can read it: chmod 600 {path}")
    return config


# the tables and keys of kgtag.toml; every value is a string
CONFIG_KEYS = {"neo4j": ("uri", "user", "password", "database"), "kgtag": ("runs_dir",)}


def check_config(config: dict[str, Any], path: Path) -> None:
    """[neo4j] and [kgtag] are tables of strings; anything else is named in one line (unknown keys are
    left alone: a newer kgtag may read them)."""
    for section, keys in CONFIG_KEYS.items():
        table = config.get(section, {})
        if not isinstance(table, dict):
            raise CliError(f"{path}: `{section}` must be a table ([{section}]), not {type(table).__name__}")
        for key in keys:
            if key in table and not isinstance(table[key], str):
                raise CliError(f"{path}: {section}.{key} must be a string, not {type(table[key]).__name__} "
                               f"({section}.{key} = \"...\")")


def settings_from(config: dict[str, Any], uri=None, user=None, password=None, database=None) -> Settings:
    """Flags and environment (already merged by click) win over the config file, which wins over defaults."""
    section = config.get("neo4j", {})
    defaults = Settings()
    return Settings(
        uri=uri or section.get("uri") or defaults.uri,
        user=user or section.get("user") or defaults.user,
        password=password if password is not None else section.get("password", defaults.password),
        database=database or section.get("database") or defaults.database,
    )


class Connection:
    """What a command needs to reach Neo4j; opens the Store only when asked."""

    def __init__(self, settings: Settings, config: dict[str, Any]):
        self.settings = settings
        self.config = config

    def open(self, schema: bool = True) -> Store:
        store = Store.connect(self.settings)
        if schema:
            from kgtag.kgstore.schema import ensure_schema

            ensure_schema(store)
        return store

    def runs_dir(self, flag: str | None = None) -> Path:
        return Path(flag or self.config.get("kgtag", {}).get("runs_dir") or "runs")


def connection_options(f):
    """Adds --uri/--user/--password/--database/--config and passes one `conn: Connection`."""

    @click.option("--uri", envvar="NEO4J_URI", show_envvar=True, help="Neo4j Bolt URI [default: bolt://127.0.0.1:7687].")
    @click.option("--user", envvar="NEO4J_USER", show_envvar=True, help="Neo4j user [default: neo4j].")
    @click.option("--password", envvar="NEO4J_PASSWORD", show_envvar=True,
                  help="Neo4j password. Given here it shows in `ps` to every local user: prefer NEO4J_PASSWORD, "
                       "kgtag.toml (chmod 600), or `--password -` to be asked for it.")
    @click.option("--database", envvar="NEO4J_DATABASE", show_envvar=True, help="Neo4j database [default: neo4j].")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False),
                  help=f"Config file with a [neo4j] table [default: ./{CONFIG_NAME} if present].")
    @functools.wraps(f)
    def wrapper(*args, uri, user, password, database, config_path, **kwargs):
        config = load_config(config_path)
        if password == "-":
            password = click.prompt("Neo4j password", hide_input=True, err=True)
        settings = settings_from(config, uri, user, password, database)
        return f(*args, conn=Connection(settings, config), **kwargs)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout (for scripts).")


def check_modalities(ctx, param, value: str | None) -> str | None:
    """A click callback: every name in a comma-separated --modalities is a modality name."""
    from kgtag.conventions import MODALITY_NAME

    bad = [m for m in csv_list(value) if not MODALITY_NAME.fullmatch(m)]
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is no modality name: use lower-case letters, digits and _, "
                                 "comma-separated (e.g. vision,audio,text)")
    return value


def csv_list(value: str | None) -> tuple[str, ...]:
    """'vision, audio,text' -> ('vision', 'audio', 'text')."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())
