"""Benchmarks: each figure beside an anchor measured in the same run (see RESULTS.md)."""
