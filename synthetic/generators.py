"""The synthetic video-graph generators by name: the graphs the defaults are chosen and checked on.

``channel`` (channel.py, the bundled sample's), ``topic`` (topic.py), ``factor`` (factor.py),
``onemodal`` (onemodal.py: each content relation seen by one modality only) and ``sparse``
(sparse.py: many videos miss modalities and carry one or two tags);
each is ``generate(seed, n_videos) -> SyntheticKG`` (docs/method.md, "Choosing the defaults").
"""

from __future__ import annotations

from . import channel, factor, onemodal, sparse, topic

GENERATORS = {"channel": channel.generate, "topic": topic.generate, "factor": factor.generate,
              "onemodal": onemodal.generate, "sparse": sparse.generate}
