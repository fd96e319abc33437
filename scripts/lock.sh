#!/usr/bin/env bash
# Refresh the locks .ci/run installs from, with `pip install --require-hashes`: requirements/dev.lock, the exact
# versions and hashes of the dev extra's environment (every extra) for Linux x86_64 and Python 3.11, and
# requirements/pip.lock, the pip that installs it and the setuptools that builds what has no wheel (then with
# --no-build-isolation: pip does not check the hashes of what an isolated build environment fetches).
#
#   pip install uv==0.13.10 && bash scripts/lock.sh
#
# uv's `pip compile` rather than `uv lock`: its output is a plain requirements file that pip itself installs, and pip
# is what zoo's README, CI and users run (uv.lock needs uv to install it; zoo has no uv project). Each line keeps the
# hashes of every file of its release, so pip may take a wheel from the index or from a local copy of it. torch and
# torchvision are held by requirements/constraints.txt. After a refresh: bash .ci/run, and check the locked versions
# for advisories (SECURITY.md); BENCHMARKS.md names the lock its figures were measured with.
set -euo pipefail
cd "$(dirname "$0")/.."

target=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --annotation-style line)
uv pip compile --quiet pyproject.toml --extra dev --constraint requirements/constraints.txt "${target[@]}" \
    --output-file requirements/dev.lock "$@"
printf 'pip\nsetuptools\n' | uv pip compile --quiet - --constraint requirements/dev.lock "${target[@]}" \
    --output-file requirements/pip.lock "$@"
