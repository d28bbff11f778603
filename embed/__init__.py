"""kgtag.embed: TransFusion and its baselines as PyTorch models, with training, evaluation and inference.

Knows nothing of Neo4j or the CLI (it takes tensors and returns tensors). The module map, and where
each of the paper's equations lives, is in docs/architecture.md.
"""
