"""README.md of an export folder: a model card written from config.json, so a folder that several exports
filled describes every file in it."""

from pathlib import Path

from zoo.files import write_text_atomically

LOADING = {
    "onnx": """```python
import numpy as np, onnxruntime
session = onnxruntime.InferenceSession("model.onnx")
logits = session.run(None, {{"inputs": {example}}})[0]
```""",
    "torch": """```python
import numpy as np, torch
model = torch.export.load("model.pt2").module()
logits = model(torch.from_numpy({example}))
```""",
    "language_model_safetensors": """```python
from pathlib import Path
from zoo.runs.export_folder import load_network
net, config = load_network(Path("{folder}"))  # this folder: the network, rebuilt from config.json
logits = net(torch.from_numpy({example}))  # next-symbol logits at every position
```""",
    "table_safetensors": """```python
import pandas, zoo
model = zoo.load("{folder}")  # this folder: rebuilds the network from config.json, loads model.safetensors
rows = pandas.read_csv("new_rows.csv")  # every feature column; missing values and new categories are fine
predictions = model(model.encode(rows))  # logits (a regressor: values in the target's units)
```
or on the command line: `zoo-predict ckpt={folder} input=new_rows.csv`""",
    "series_safetensors": """```python
import pandas, zoo
model = zoo.load("{folder}")  # this folder: rebuilds the network from config.json, loads model.safetensors
history = pandas.read_csv("history.csv")  # each series' history, and rows ahead with any future covariates
forecasts = model.forecast(history)  # one row per series and step ahead, with each quantile
```
or on the command line: `zoo-predict ckpt={folder} input=history.csv`""",
    "safetensors": """```python
import zoo
model = zoo.load("{folder}")  # this folder: rebuilds the network from config.json, loads model.safetensors
probabilities = model.probabilities({example})  # columns: model.class_names
```
or on the command line: `zoo-predict ckpt={folder} input=<file.npy or images>`""",
}


def write_card(folder: Path, config: dict) -> None:
    write_text_atomically(folder / "README.md", card(folder, config))


def card(folder: Path, config: dict) -> str:
    data, model = config["data"], config["model"]
    language_model = config["task"] == "language_model"
    inputs, outputs = config["inputs"], config["outputs"]
    shape = ", ".join(map(str, inputs["shape"]))
    settings = ", ".join(f"{key}={value}" for key, value in model.items() if key != "name" and value is not None)
    lines = [
        f"# {model['name']} on {data['name']}",
        "",
        f"A zoo model ({config['task'].replace('_', ' ')}), exported by `zoo-export` from `{config['checkpoint']}`.",
        "",
        "| | |",
        "|---|---|",
        f"| family | `model={model['name']}` ({settings}) |",
        f"| data set | `{data['name']}` |",
        f"| input | ({shape}) {inputs['dtype']}: {inputs['values']} |",
        f"| output | ({', '.join(map(str, outputs['shape']))}): {outputs['values']} |",
    ]
    if language_model:
        symbols = data["vocabulary"]["characters"]
        lines.append(
            f"| vocabulary | {data['model_inputs']['vocab_size']} symbols: {symbols[:60]!r}"
            f"{'...' if len(symbols) > 60 else ''} (ids in config.json, data.vocabulary) |"
        )
    elif config["task"] == "forecasting":
        series = data["series"]
        lines.append(
            f"| forecast | {series['horizon']} steps of {series['channels'][0]} after {series['lookback']} of history, "
            f"quantiles {', '.join(map(str, series['quantiles']))} |"
        )
        lines.append(f"| normalization | {inputs['normalization']} |")
    elif config["task"] == "regression":
        lines.append(f"| target | {data['target']['name']}, in its own units |")
        lines.append(f"| normalization | {inputs['normalization']} |")
    else:
        lines.append(f"| classes | {', '.join(map(str, outputs['classes']))} |")
        lines.append(f"| normalization | {inputs['normalization']} |")
    lines.append(f"| parameters | {config['params']:,} |")
    for key, value in config["test_metrics"].items():
        lines.append(f"| {key} (the run's) | {value:.4f} |")
    measured = config["measured"]
    score = next(name for name in ("rmse", "mae", "accuracy") if name in measured)
    lines.append(
        f"| {score} measured by zoo-export | {measured[score]:.4f} on {measured['test_samples']:,} "
        f"test {'windows' if language_model else 'samples'} |"
    )
    lines += [
        "",
        "## Trained with",
        "",
        f"    {config['command']}"
        if config["command"]
        else "The training command is not known: the checkpoint was exported from outside its run folder.",
        "",
        "## Files, each checked against the checkpoint's model on the test split",
        "",
        f"| file | takes | largest absolute logit difference | {score} |",
        "|---|---|---|---|",
    ]
    for check in config["checks"].values():
        lines.append(
            f"| {check['file']} | ({', '.join(map(str, check['input_shape']))}) | "
            f"{check['max_abs_logit_difference']:.2e} | {check[score]:.4f} |"
        )
    lines += ["", "config.json holds everything above as plain JSON.", "", "## How to load it", ""]
    for name, check in config["checks"].items():
        example = example_input({**inputs, "shape": check["input_shape"]})
        kind = (
            "language_model_"
            if language_model
            else "table_"
            if "encoding" in data
            else "series_"
            if "series" in data
            else ""
        )
        snippet = LOADING.get(f"{kind}{name}", LOADING[name])
        lines += [snippet.format(example=example, folder=folder.name), ""]
    return "\n".join(lines)


def example_input(inputs: dict) -> str:
    """A NumPy expression for an input of the exported model's shape, batch 1."""
    sizes = [
        1 if size == "batch" else inputs.get("max_time", 1) if size == "time" else size for size in inputs["shape"]
    ]
    if inputs["dtype"] == "int64":
        return f"np.zeros(({', '.join(map(str, sizes))}), dtype=np.int64)"
    return f"np.zeros(({', '.join(map(str, sizes))}), dtype=np.float32)"
