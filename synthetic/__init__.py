"""Seeded synthetic video graphs: the bundled sample, the tests and the benches (docs/method.md)."""
