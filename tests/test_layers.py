"""zoo's layers, read off its packages: imports run one way, from the command lines down to models and data, with no
circle between modules or between packages (docs/layout.md lists the packages top to bottom). Every import counts,
those inside functions too. No list of modules is kept here: the packages are the folders of zoo/."""

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

ZOO = REPO / "zoo"
MAX_LINES = 400  # about: a module of one idea may run long, but not this long
# What only runs a trained network (zoo-predict, zoo-generate, zoo.load) starts in about the time torch takes to
# import: nothing it reaches imports the training stack (tests/test_inference_imports.py runs the commands).
INFERENCE = ["zoo.inference.predict", "zoo.inference.generate", "zoo.inference.network"]
TRAINING_STACK = {"lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "hydra", "tensorboard"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ZOO.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def packages() -> list[str]:
    """zoo's packages: its folders with an __init__.py (conf/ is the configs' folder, not code)."""
    return sorted(path.parent.name for path in ZOO.glob("*/__init__.py"))


def top_level_modules() -> list[str]:
    return sorted(f"zoo.{path.stem}" for path in ZOO.glob("*.py") if path.stem != "__init__")


def unit_of(module: str) -> str:
    """The package a module belongs to (`zoo.training.train` -> `training`), or a top-level module's own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "zoo"


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The zoo modules `path` imports, at the top or inside a function (a name imported from a package counts as that
    module where it is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "zoo"}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(path, known) - {module} for module, path in known.items()}


def unit_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, imported in graph().items():
        edges.setdefault(unit_of(module), set()).update(unit_of(other) for other in imported)
    return {unit: targets - {unit} for unit, targets in edges.items()}


def find_circle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*trail[trail.index(target) :], target]
            if target not in state and (circle := visit(target, [*trail, target])):
                return circle
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (circle := visit(node, [node])):
            return circle
    return None


def layout_order() -> list[str]:
    """The packages and top-level modules as docs/layout.md lists them, top to bottom: the `zoo/<name>/` and
    `<name>.py` entries of its floor plan (the indented block under "## The floor plan")."""
    text = (REPO / "docs" / "layout.md").read_text()
    plan = text.split("## The floor plan", 1)[1].split("\n## ", 1)[0]
    order = []
    for line in plan.splitlines():
        if match := re.match(r"^    zoo/(\w+)/", line):
            order.append(match.group(1))
        elif match := re.match(r"^    zoo/(\w+)\.py", line):
            order.append("zoo" if match.group(1) == "__init__" else match.group(1))
    return order


def test_the_top_level_holds_a_few_modules_beside_the_packages():
    assert len(top_level_modules()) <= 6, top_level_modules()


def test_no_import_circle_between_modules():
    edges = graph()
    # A module that imports a package means the package's __init__, which imports its own modules: not a circle
    # unless the module is one of them (that is the next test's).
    edges = {module: {i for i in deps if not module.startswith(f"{i}.")} for module, deps in edges.items()}
    assert find_circle(edges) is None, " -> ".join(find_circle(edges) or [])


def test_no_import_circle_between_packages():
    circle = find_circle(unit_graph())
    assert circle is None, "packages import each other: " + " -> ".join(circle or [])


def test_no_module_imports_the_package_it_belongs_to():
    """A package's __init__ sits above its modules (it is the package's front, as zoo.models' imports the families):
    a module of the package importing it would run back up."""
    upward = [
        f"{module} imports {imported}"
        for module, imported_modules in graph().items()
        for imported in imported_modules
        if module.startswith(f"{imported}.") and imported != "zoo"
    ]
    assert not upward, upward


def test_top_level_modules_are_leaves_or_doors():
    """Beside the packages, zoo/ holds leaves (the registry, the configs, the errors...: they import only each other)
    and doors (the public API: zoo/__init__.py, zoo.figures: nothing in zoo imports them)."""
    edges = graph()
    leaves = set(top_level_modules()) | {"zoo"}
    imported_anywhere = {imported for deps in edges.values() for imported in deps}
    wrong = []
    for module in ["zoo", *top_level_modules()]:
        is_leaf = edges[module] <= leaves
        is_door = module not in imported_anywhere
        if not (is_leaf or is_door):
            wrong.append(module)
    assert not wrong, f"neither a leaf nor a door: {wrong}"


def test_the_layout_page_lists_every_package_top_to_bottom():
    """docs/layout.md's floor plan names every package and top-level module once, in an order where each imports only
    what is listed below it: the layers are the packages, and the page says which is where."""
    order = layout_order()
    assert sorted(order) == sorted([*packages(), "zoo", *(m.split(".")[1] for m in top_level_modules())]), order
    position = {unit: index for index, unit in enumerate(order)}
    upward = [
        f"{unit} imports {target}, listed above it"
        for unit, targets in unit_graph().items()
        for target in targets
        if position[target] < position[unit]
    ]
    assert not upward, upward


def test_no_module_runs_past_a_few_screens():
    long = {
        str(path.relative_to(REPO)): n
        for path in ZOO.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


@pytest.mark.parametrize("package", packages())
def test_a_package_front_imports_nothing_heavy(package):
    """A package's __init__ runs whenever any of its modules is imported: beyond zoo.models (its front is the families'
    registry), it holds a docstring and light helpers, so that importing one module does not load its neighbours."""
    tree = ast.parse((ZOO / package / "__init__.py").read_text())
    imported = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)}
    heavy = {name for name in imported if name.split(".")[0] in TRAINING_STACK | {"torch", "zoo"}}
    if package == "models":
        heavy -= {"torch", "zoo.models", "zoo.models.registry", "zoo.models.table"}
    assert not heavy, heavy


def test_inference_reaches_nothing_of_the_training_stack():
    """Every zoo module the inference commands can import (at the top or inside a function, transitively) imports
    neither Lightning nor Hydra, torchmetrics or TensorBoard."""
    known = modules()
    reached, todo = set(), list(INFERENCE)
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            # importing a module runs its packages' __init__ first
            parents = {".".join(module.split(".")[:i]) for i in range(2, len(module.split(".")))}
            todo += sorted((imports_of(known[module], known) | (parents & set(known))) - reached)
    heavy = {}
    for module in sorted(reached):
        tree = ast.parse(known[module].read_text())
        nodes = tree.body if module == "zoo" else list(ast.walk(tree))
        names = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        if found := sorted(name for name in names if name.split(".")[0] in TRAINING_STACK):
            heavy[module] = found
    assert "zoo.inference.network" in reached and "zoo.models.cnn" in reached
    assert not heavy, heavy
