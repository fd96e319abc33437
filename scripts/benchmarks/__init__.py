"""The sections of scripts/benchmark.py, one module each; `python scripts/benchmark.py <section>` runs one."""
