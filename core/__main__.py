"""`python -m kgtag ...`: the kgtag command line (so that `torchrun ... -m kgtag train ...` works)."""

from kgtag.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="kgtag")
