"""Regenerate the bundled sample video KG in core/sample/ (seeded: the same files every time).

    .venv/bin/python bench/make_sample.py [--seed 0] [--videos 3000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kgtag.synthetic.channel import generate

SAMPLE = Path(__file__).resolve().parent.parent / "kgtag" / "sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--videos", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=SAMPLE)
    args = parser.parse_args()
    kg = generate(seed=args.seed, n_videos=args.videos)
    total = 0
    for path in kg.write(args.out):
        size = path.stat().st_size
        total += size
        print(f"{path}  {size / 1024:.0f} KiB")
    print(f"{len(kg.records)} videos, {kg.num_entities} entities, {len(kg.all_triples())} triples, {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
