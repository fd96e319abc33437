#!/usr/bin/env bash
# Check that the floors in pyproject.toml are true: install the lowest version that it allows of every
# dependency (and of every extra) into a virtual environment, then run the tests there.
#
#   bash scripts/check_floors.sh [pytest arguments]      e.g. tests/test_train.py tests/test_resume.py
#
# The environment is $FLOORS_VENV (default /tmp/zoo-floors), made if missing, reused if not. Needs
# Python >= 3.11 and the package index: the torch of the floor is a CUDA build of a few GB.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${FLOORS_VENV:-/tmp/zoo-floors}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pins=$("$venv/bin/python" - <<'EOF'
import re
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
for requirement in project["dependencies"] + [r for extra in extras.values() for r in extra]:
    if requirement.startswith("zoo["):  # dev's own "zoo[cluster]"...: each extra's floors are listed already
        continue
    name, floor = re.match(r"([\w.-]+)\s*>=\s*([\w.]+)", requirement).groups()
    print(f"{name}=={floor}")
EOF
)
"$venv/bin/python" -m pip install --prefer-binary $pins
"$venv/bin/python" -m pip install --no-deps --no-build-isolation -e .  # the build too, on the setuptools floor
"$venv/bin/python" -m pip check
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
