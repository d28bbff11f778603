"""The modality-name rule, shared by every layer: a modality name is also a segment name (embed), a
Neo4j property suffix `feat_<name>` and a key of the attention edges (kgstore), and a file-name part."""

from __future__ import annotations

import re

MODALITY_NAME = re.compile(r"[a-z][a-z0-9_]*")
