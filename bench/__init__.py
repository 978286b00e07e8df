"""CPay benchmarks: `make bench` (= `.venv/bin/python -m bench`) writes docs/benchmarks.md.

Every benchmark reports its figure next to a baseline measured in the same run, the
ratio between the two and its target. To add one (gRPC, PostgreSQL, TUI, ...), write a
module exposing a `bench.core.Benchmark` and list it in `bench.registry.BENCHMARKS`.
"""
