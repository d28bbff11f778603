"""The synthetic video-graph generators by name: the graphs the defaults are chosen and checked on.

``channel`` (synthetic.py, the bundled sample's), ``topic`` (synthetic_topic.py) and ``factor``
(synthetic_factor.py); each is ``generate(seed, n_videos) -> SyntheticKG`` (docs/method.md,
"Choosing the defaults").
"""

from __future__ import annotations

from . import synthetic, synthetic_factor, synthetic_topic

GENERATORS = {"channel": synthetic.generate, "topic": synthetic_topic.generate, "factor": synthetic_factor.generate}
