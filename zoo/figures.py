"""The claims' figures and measurements for a notebook, on a finished run (its folder or a checkpoint): the
same functions the run's views call in TensorBoard (zoo/views/), on the run's best network and its data
set up as in training (zoo.open_run). Each returns a matplotlib Figure, which a notebook shows, or numbers.

    import zoo.figures
    zoo.figures.decision_boundary("logs/runs/<time>_toy_mlp")
    zoo.figures.comparison("logs")            # zoo-compare's table and figures for every run under logs/
"""

from pathlib import Path

from matplotlib.figure import Figure

from zoo.errors import ZooError
from zoo.inference.restore import open_run


def decision_boundary(run, resolution: int = 100) -> Figure:
    """data=toy: the probability of the second class over the plane, with the training and test points."""
    from zoo.views.boundary import boundary_figure, has_plane

    net, datamodule = open_run(run)
    if not has_plane(datamodule):
        raise ZooError(f"{run} was trained on data={datamodule.name}, not on points of the plane (data=toy)")
    return boundary_figure(net, datamodule, resolution)


def first_layer(run, units: int = 16) -> Figure:
    """data=toy: what each of the first hidden layer's units computes over the plane (an MLP's)."""
    from zoo.views.boundary import first_layer_figure, has_plane

    net, datamodule = open_run(run)
    figure = first_layer_figure(net, datamodule, units) if has_plane(datamodule) else None
    if figure is None:
        raise ZooError(f"{run}: a model with a hidden layer on data=toy has first-layer pictures (model=mlp)")
    return figure


def filters(run) -> Figure:
    """A CNN's first-layer filters."""
    from zoo.views.hierarchy import conv_features, filters_figure

    net, _ = open_run(run)
    if conv_features(net) is None:
        raise ZooError(f"{run} has no convolutional blocks (model=cnn has)")
    return filters_figure(net)


def feature_maps(run, index: int = 0) -> Figure:
    """A CNN's feature maps after every block, for test example `index`."""
    from zoo.views.hierarchy import conv_features, feature_maps_figure

    net, datamodule = open_run(run)
    if conv_features(net) is None:
        raise ZooError(f"{run} has no convolutional blocks (model=cnn has)")
    return feature_maps_figure(net, datamodule, index)


def generalization(run) -> dict[str, float]:
    """Accuracy on the samples trained on (in eval mode, as metrics.json's `eval_train_acc`), on the test
    split, and the gap between them."""
    from zoo.views.generalization import split_accuracy

    net, datamodule = open_run(run)
    train, test = split_accuracy(net, datamodule, "train"), split_accuracy(net, datamodule, "test")
    return {"eval_train_acc": train, "test_acc": test, "gap": train - test}


def robustness(run, noise=(0.0, 0.1, 0.25, 0.5, 1.0), fgsm=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2)) -> Figure:
    """Test accuracy under Gaussian noise and under FGSM, against the size in standard deviations of the data."""
    from zoo.views.robustness import accuracy_under_noise, fgsm_accuracy, robustness_figure

    net, datamodule = open_run(run)
    inputs, targets = datamodule.splits["test"]
    batch = datamodule.eval_batch_size
    return robustness_figure(
        list(noise),
        accuracy_under_noise(net, inputs, targets, list(noise), batch),
        list(fgsm),
        fgsm_accuracy(net, inputs, targets, list(fgsm), batch),
        1 / len(datamodule.class_names),
    )


def adversarial_examples(run, epsilon: float = 0.1, count: int = 4) -> Figure:
    """Test examples before and after an FGSM step of `epsilon`, with both predictions."""
    from zoo.views.robustness import adversarial_figure

    net, datamodule = open_run(run)
    return adversarial_figure(net, datamodule, epsilon, count)


def saliency(run, count: int = 8, steps: int = 32) -> Figure:
    """Integrated gradients of the predicted class for the first test example of up to `count` classes."""
    from zoo.views.saliency import saliency_figure

    net, datamodule = open_run(run)
    return saliency_figure(net, datamodule, count, steps)


def cost(run) -> dict[str, float]:
    """Parameters, FLOPs per sample (a forward pass, a training step) and milliseconds per sample."""
    from zoo.models import count_parameters
    from zoo.views.cost import count_flops, latency_ms

    net, datamodule = open_run(run)
    inputs = datamodule.splits["test"][0]
    return {"params": count_parameters(net), **count_flops(net, inputs[:2]), "latency_ms": latency_ms(net, inputs[:1])}


def comparison(logdir="logs", out=None) -> dict[str, Path]:
    """zoo-compare on every finished run under `logdir`: writes its table and figures into `out` (default
    `<logdir>/compare`) and returns their paths by file name (comparison.md, comparison.png, cost.png...)."""
    from zoo.compare.command import main

    out = Path(out) if out else Path(logdir) / "compare"
    if main(["--logdir", str(logdir), "--out", str(out)]) != 0:
        raise ZooError(f"no finished zoo runs under {logdir}")
    return {path.name: path for path in sorted(out.iterdir()) if path.suffix in (".png", ".md")}
