"""Videos that arrived after a run was trained: in the graph with features, not among the run's entities."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .features import property_key
from .read import ENTITIES_PER_PAGE
from .store import Store


def videos_with_features_outside(store: Store, modalities: Sequence[str], known: Sequence[str],
                                 per_page: int = ENTITIES_PER_PAGE) -> list[str]:
    """Ids of the videos holding a vector of any of `modalities` that are not in `known`, in id order.

    Read in keyset pages on Entity.id (one read transaction each); `known` is filtered out here with a
    pandas index look-up, not sent to Neo4j (a run's entity list can be large)."""
    keys = [property_key(m) for m in modalities]
    if not keys:
        return []
    index = pd.Index(list(known))
    out, after = [], ""
    while True:
        ids = store.query("read_new_videos_page", routing="r", keys=keys, after=after, limit=per_page)[0]["ids"]
        if not ids:
            return out
        page = np.asarray(ids, dtype=object)
        out.extend(page[index.get_indexer(page) < 0].tolist())
        after = ids[-1]


def found_with_features(store: Store, modalities: Sequence[str], ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(exists [n], holds a vector of any of `modalities` [n]) for entity ids, aligned."""
    keys = [property_key(m) for m in modalities]
    record = store.query("read_videos_found", routing="r", ids=list(ids), keys=keys)[0]
    return np.asarray(record["found"], dtype=bool), np.asarray(record["featured"], dtype=bool)
