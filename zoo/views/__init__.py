"""What a run shows and measures beyond its metric curves, one module per claim about neural networks.

Each view is a Lightning callback listed by name in a task's config (`views` in `conf/task/<task>.yaml`) or,
where it serves every task, in conf/callbacks/default.yaml; `task.views.<name>=null` (or
`callbacks.<name>=null`) switches it off. Views are measurements, not training: what runs while the model
trains runs at epoch ends on a few fixed examples and must leave the training exactly as it would have
been (same random numbers, same batch-norm statistics, same mode); what needs a whole split runs once,
after testing, on the tested weights. A view that measures numbers puts them in its `results` dict
(name -> float): metrics.json and the HPARAMS row (`zoo/<name>`) show them. Where several processes train
together, the first alone measures and draws (the views' hooks are `rank_zero_only`): the others hold the
same weights, and a view reads whole splits of the data, not a process's share.

Each module also keeps its figures and measurements as plain functions of a network and a data module,
which the notebook API (zoo.figures) calls on a finished run. What the views share is zoo.views.base; the list of
views (`view_modules`, `comparison_figures`) is derived here from this package's modules.
"""

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType


def view_modules() -> list[ModuleType]:
    """This package's modules, one per view: the registry of views (each named by the task configs' `views`)."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name != "base"
    ]


def comparison_figures() -> list[Callable]:
    """The `compare_figure(runs, out)` of every view that draws one for zoo-compare."""
    return [module.compare_figure for module in view_modules() if hasattr(module, "compare_figure")]
