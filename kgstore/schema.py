"""The graph schema: constraints and indexes from `cypher/schema.cypher`, applied idempotently."""

from __future__ import annotations

from .store import Store, cypher


def schema_statements() -> list[str]:
    """The statements of cypher/schema.cypher, comments dropped, split on ';'."""
    text = "\n".join(line for line in cypher("schema").splitlines() if not line.lstrip().startswith("//"))
    return [s.strip() for s in text.split(";") if s.strip()]


def ensure_schema(store: Store) -> None:
    """Create the constraints and indexes that are missing and wait until they are online."""
    with store.session() as session:
        for statement in schema_statements():
            session.run(statement).consume()
        session.run("CALL db.awaitIndexes(300)").consume()
