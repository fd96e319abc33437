"""zoo's modules import one way, from the command lines down to models and data (docs/layout.md), with
no circle; each module holds one idea in at most 250 lines. Read off the source, every import counted, also those
inside functions."""

import ast
from pathlib import Path

import pytest

from conftest import REPO

# Top to bottom: a module may import its own layer's modules and those below, never one above.
LAYERS = [
    ("command lines", ["cli", "evaluate", "predict", "generate", "export", "compare", "board", "notebook", "figures"]),
    (
        "opening and training runs",
        [
            "training",
            "resume",
            "restore",
            "network",
            "predictor",
            "export_formats",
            "export_folder",
            "model_card",
            "compare_tables",
            "multirun",
        ],
    ),
    ("building from a config", ["build", "report", "failures", "distributed", "checks", "hparams", "arguments"]),
    (
        "what a run learns and shows",
        [
            "tasks",
            "views",
            "callbacks",
            "batch_hooks",
            "progress",
            "checkpoints",
            "tensorboard_extras",
            "trackers",
            "schedules",
        ],
    ),
    ("models and data", ["models", "data"]),
    ("foundations", ["errors", "registry", "run", "checkpoint_file", "grouping"]),
]
MAX_LINES = 250
# What only runs a trained network (zoo-predict, zoo-generate, zoo.load) starts in about the time torch takes to
# import: nothing it reaches imports the training stack (tests/test_inference_imports.py runs the commands).
INFERENCE = ["zoo.predict", "zoo.generate", "zoo.predictor"]
TRAINING_STACK = {"lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "hydra", "tensorboard"}


def layer_of(module: str) -> int:
    """The layer of `zoo.<first part>...`; the package itself (`zoo`: CONFIG_DIR, the error) is a foundation."""
    parts = module.split(".")
    if parts == ["zoo"]:
        return len(LAYERS) - 1
    for index, (_, names) in enumerate(LAYERS):
        if parts[1] in names:
            return index
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layers.py's LAYERS")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / "zoo").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The zoo modules `path` imports (a name imported from a package counts as that module where it is one).
    The package's front door (zoo/__init__.py) imports its commands inside its API functions: not counted."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if path == REPO / "zoo" / "__init__.py" else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "zoo"}
    return found


def test_imports_run_from_the_command_lines_down():
    known = modules()
    upward = []
    for module, path in known.items():
        for imported in imports_of(path, known):
            if imported != "zoo" and layer_of(imported) < layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {imported}")
    assert not upward, "\n".join(upward)


def test_no_module_imports_one_that_imports_it_back():
    known = modules()
    graph = {module: imports_of(path, known) - {"zoo", module} for module, path in known.items()}
    # A package imported by its own modules (zoo.models by zoo.models.cnn, for `register`) is where it is defined.
    graph = {module: {i for i in deps if not module.startswith(f"{i}.")} for module, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                cycle = [*trail[trail.index(imported) :], imported] if imported in trail else [module, imported]
                pytest.fail("an import circle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported, [*trail, imported])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_every_module_fits_in_a_screen_or_four():
    long = {
        str(path.relative_to(REPO)): n
        for path in (REPO / "zoo").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_inference_reaches_nothing_of_the_training_stack():
    """Every zoo module the inference commands can import (at the top or inside a function, transitively) imports
    neither Lightning nor Hydra, torchmetrics or TensorBoard."""
    known = modules()
    reached, todo = set(), list(INFERENCE)
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += sorted(imports_of(known[module], known) - reached)
    heavy = {}
    for module in sorted(reached):
        tree = ast.parse(known[module].read_text())
        nodes = tree.body if module == "zoo" else list(ast.walk(tree))
        names = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        if found := sorted(name for name in names if name.split(".")[0] in TRAINING_STACK):
            heavy[module] = found
    assert "zoo.network" in reached and "zoo.models.cnn" in reached
    assert not heavy, heavy
