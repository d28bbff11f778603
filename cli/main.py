import click


@click.group()
def cli():
    """kgtag: infer video tags on a Neo4j knowledge graph."""
