"""kgtag: infer video tags on a Neo4j knowledge graph with TransFusion (ACM MM 2021)."""

__version__ = "0.1.0"
