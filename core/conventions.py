"""Conventions every layer shares (embed, kgstore, runs, cli), kept once here: this module imports nothing of kgtag.

- A modality name is also a segment name (embed), a Neo4j property suffix `feat_<name>` and a key of
  the attention edges (kgstore), and a file-name part.
- A triple of codes (h, r, t) has one integer key, for set membership by sorting or `isin`.
"""

from __future__ import annotations

import re

MODALITY_NAME = re.compile(r"[a-z][a-z0-9_]*")


def triple_key(h, r, t, num_entities: int, num_relations: int):
    """(h * R + r) * E + t, elementwise on int64 numpy arrays or torch tensors."""
    return (h * num_relations + r) * num_entities + t
