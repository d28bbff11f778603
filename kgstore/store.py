"""A thin typed layer over the official Neo4j driver.

Every query the code runs lives as readable text in `cypher/*.cypher` (package data) and is run with
parameters; nothing is built by string concatenation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import neo4j
from neo4j import GraphDatabase

from kgtag.errors import KgtagError, first_line


class StoreError(KgtagError):
    """An expected failure talking to Neo4j, worded for the user."""

    kind = "env"


class StoreUnavailable(StoreError):
    """Neo4j stopped answering (or refused us) in the middle of the work."""


class NoSuchDatabase(StoreError):
    """The database named in the settings does not exist: the user's setting is wrong."""

    kind = "input"


@contextmanager
def translated() -> Iterator[None]:
    """Driver errors the user can act on become StoreErrors with one line; the rest pass unchanged."""
    try:
        yield
    except neo4j.exceptions.AuthError as exc:
        raise StoreUnavailable(f"Neo4j refused the credentials: {exc.message}") from None
    except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as exc:
        raise StoreUnavailable(f"Neo4j stopped answering ({first_line(exc, None)}); start it again and rerun") from None
    except neo4j.exceptions.ClientError as exc:
        if exc.code == "Neo.ClientError.Database.DatabaseNotFound":
            raise NoSuchDatabase(f"Neo4j has no such database: {exc.message}") from None
        raise


@cache
def cypher(name: str) -> str:
    """The text of `cypher/<name>.cypher`."""
    try:
        return resources.files("kgtag.cypher").joinpath(f"{name}.cypher").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no query file cypher/{name}.cypher") from None


@dataclass(frozen=True)
class Settings:
    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    password: str = ""
    database: str = "neo4j"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            uri=os.environ.get("NEO4J_URI", cls.uri),
            user=os.environ.get("NEO4J_USER", cls.user),
            password=os.environ.get("NEO4J_PASSWORD", cls.password),
            database=os.environ.get("NEO4J_DATABASE", cls.database),
        )


class Store:
    """One connection to the kgtag graph. Use as a context manager or call close()."""

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j"):
        self.driver = driver
        self.database = database

    @classmethod
    def connect(cls, settings: Settings | None = None) -> "Store":
        settings = settings or Settings.from_env()
        # The server's notifications (e.g. "label Video does not exist" on an empty graph) are
        # advice for query authors, not for users of the CLI; keep them out of the output.
        driver = GraphDatabase.driver(
            settings.uri, auth=(settings.user, settings.password), notifications_min_severity="OFF"
        )
        try:
            driver.verify_connectivity()
        except neo4j.exceptions.AuthError:
            driver.close()
            raise StoreError(f"Neo4j at {settings.uri} refused user {settings.user!r}: check NEO4J_USER / NEO4J_PASSWORD") from None
        except (neo4j.exceptions.ServiceUnavailable, OSError, ValueError) as exc:
            driver.close()
            raise StoreError(
                f"Neo4j does not answer at {settings.uri} ({exc.__class__.__name__}); "
                "start one with `docker/neo4j-local start` or set NEO4J_URI"
            ) from None
        return cls(driver, settings.database)

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def query(self, name: str, /, routing: str = "w", **params: Any) -> list[neo4j.Record]:
        """Run the named query file in one managed transaction and return its records.

        `name` is positional-only so a query may take a `$name` parameter of its own.
        """
        with translated():
            records, _, _ = self.driver.execute_query(
                cypher(name), params, database_=self.database,
                routing_=neo4j.RoutingControl.READ if routing == "r" else neo4j.RoutingControl.WRITE,
            )
        return records

    def write_batches(self, n: int, batch_size: int, work: Callable[..., Any]) -> list:
        """`work(tx, start, stop)` for each slice of `n` rows, each slice its own write transaction (one
        failed batch leaves the earlier ones stored and is retried whole by the driver); the results."""
        with self.session() as session:
            return [session.execute_write(work, start, min(start + batch_size, n)) for start in range(0, n, batch_size)]

    @contextmanager
    def session(self, **kwargs) -> Iterator[neo4j.Session]:
        """A driver session whose driver errors leave as StoreErrors (see `translated`)."""
        with translated(), self.driver.session(database=self.database, **kwargs) as session:
            yield session
