"""Every option of every config group composes with Hydra and instantiates."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from zoo import CONFIG_DIR
from zoo.errors import ZooError
from zoo.models import list_models
from zoo.training.build import build_network, build_trainer
from zoo.training.checks import check_config
from zoo.training.job import new_record

from own_data import beats, customers, write_folder


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def test_defaults_are_mnist1d_cnn_adamw_cosine(compose_config):
    cfg = compose_config()
    assert (cfg.data.name, cfg.model.name, cfg.trainer.accelerator) == ("mnist1d", "cnn", "auto")
    assert cfg.optimizer._target_ == "torch.optim.AdamW" and cfg.scheduler._target_ == "zoo.training.schedules.cosine"


@pytest.fixture(scope="module")
def own_data(tmp_path_factory) -> dict[str, list[str]]:
    """The overrides that point the data sets of a user's own files at small ones (tests/own_data.py)."""
    folder = tmp_path_factory.mktemp("own")
    write_folder(folder / "pets", per_class=4)
    customers(rows=60).to_csv(folder / "customers.csv", index=False)
    beats(rows=30).to_csv(folder / "beats.csv", index=False)
    return {
        "images": [f"data.path={folder / 'pets'}", f"data.data_dir={folder / 'cache'}"],
        "table": [f"data.path={folder / 'customers.csv'}", "data.target=churn", "data.drop=[id]"],
        "signals": [f"data.path={folder / 'beats.csv'}", "data.drop=[id]"],
    }


@pytest.mark.parametrize("data", options("data"))
@pytest.mark.parametrize("model", options("model"))
def test_every_model_composes_with_every_data_set(compose_config, model, data, own_data):
    cfg = compose_config(f"model={model}", f"data={data}", *own_data.get(data, []))
    datamodule = instantiate(cfg.data)
    assert datamodule.name == data
    suited = getattr(datamodule, "suited_models", None)
    if suited and model not in suited:  # data=toy: a point's features, which only linear and mlp take
        with pytest.raises(ZooError, match=f"; data={data} suits model=linear or model=mlp$"):
            build_network(cfg, datamodule)
        return
    if datamodule.task == "translation" and model not in list_models("translation"):  # mlp, linear, cnn
        with pytest.raises(ZooError, match=f"^model={model} on data=pairs: model={model} cannot do translation: "):
            build_network(cfg, datamodule)
        return
    net = build_network(cfg, datamodule)
    if datamodule.task == "translation":
        assert cfg.task._target_.endswith("Translation") and cfg.callbacks.model_checkpoint.mode == "max"
        source, target = torch.full((2, 7), 4), torch.full((2, 5), 4)
        assert net(source, target).shape == (2, 5, datamodule.model_inputs["target_vocab"])
    elif datamodule.task == "language_model":  # the data chose the task, and the task the family's defaults
        assert cfg.task._target_.endswith("LanguageModel") and cfg.callbacks.model_checkpoint.mode == "min"
        vocabulary, context = datamodule.model_inputs["vocab_size"], datamodule.model_inputs["context"]
        assert net(torch.zeros(2, context, dtype=torch.long)).shape == (2, context, vocabulary)
    elif datamodule.task == "forecasting":  # data=series without a file: the bundled series
        assert cfg.task._target_.endswith("Forecasting") and cfg.callbacks.model_checkpoint.mode == "min"
        inputs = datamodule.model_inputs
        assert net(torch.zeros(2, *inputs["input_shape"])).shape == (2, inputs["horizon"], len(inputs["quantiles"]))
    else:
        assert cfg.task._target_.endswith("Classification") and cfg.callbacks.model_checkpoint.mode == "max"
        assert datamodule.num_classes == len(datamodule.class_names)
        assert net(torch.zeros(2, *datamodule.input_shape)).shape == (2, datamodule.num_classes)


@pytest.mark.parametrize("optimizer", options("optimizer"))
@pytest.mark.parametrize("scheduler", options("scheduler"))
def test_optimizers_and_schedules_step(compose_config, optimizer, scheduler):
    cfg = compose_config(f"optimizer={optimizer}", f"scheduler={scheduler}")
    weight = torch.nn.Parameter(torch.ones(3))
    opt = instantiate(cfg.optimizer)(params=[weight])
    schedule = instantiate(cfg.scheduler)(optimizer=opt, total_steps=100)
    rates = []
    for _ in range(100):
        weight.sum().backward()
        opt.step()
        schedule.step()
        rates.append(opt.param_groups[0]["lr"])
    assert all(rate >= 0 for rate in rates) and max(rates) <= cfg.optimizer.lr * 1.0001
    if scheduler != "constant":
        assert rates[-1] < 0.01 * cfg.optimizer.lr  # decays to (nearly) zero by the last step


@pytest.mark.parametrize("trainer", [t for t in options("trainer") if t not in ("gpu", "ddp")])
@pytest.mark.parametrize("logger", options("logger"))
@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_trainer_logger_and_callbacks_instantiate(compose_config, tmp_path, trainer, logger, callbacks):
    cfg = compose_config(
        f"trainer={trainer}",
        f"logger={logger}",
        f"callbacks={callbacks}",
        f"paths.log_dir={tmp_path}",
        output_dir=tmp_path,
    )
    built = build_trainer(cfg, new_record(cfg, [], str(tmp_path)))
    assert built.max_epochs == cfg.trainer.max_epochs
    assert (len(built.loggers) > 0) == (logger != "none")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message seen without a GPU")
@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_gpu_trainer_without_cuda_fails_with_one_line(compose_config, trainer):
    with pytest.raises(ZooError, match="trainer=gpu and trainer=ddp need a CUDA device"):
        check_config(compose_config(f"trainer={trainer}"))


@pytest.mark.parametrize(
    "preset", [f"debug={d}" for d in options("debug")] + [f"experiment={e}" for e in options("experiment")]
)
def test_presets_compose(compose_config, preset):
    check_config(compose_config(preset))
