# SPDX-License-Identifier: Apache-2.0
"""Benchmarks run only through `make bench` (pytest -o python_files='bench_*.py' bench).

GC is disabled and warm-up is on for every benchmark (see the Makefile flags); all inputs are
generated from fixed seeds so runs are comparable.
"""
