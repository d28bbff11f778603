"""The synthetic video-graph generators by name: the graphs the defaults are chosen and checked on.

``channel`` (channel.py, the bundled sample's), ``topic`` (topic.py) and ``factor`` (factor.py);
each is ``generate(seed, n_videos) -> SyntheticKG`` (docs/method.md, "Choosing the defaults").
"""

from __future__ import annotations

from . import channel, factor, topic

GENERATORS = {"channel": channel.generate, "topic": topic.generate, "factor": factor.generate}
