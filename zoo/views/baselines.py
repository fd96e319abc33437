"""The bar a network must clear on a table: classical models fitted on the same rows, scored on the same test split.

On tabular data gradient-boosted trees are the model to beat (Grinsztajn et al., 2022, "Why do tree-based models
still outperform deep learning on tabular data?"), and a linear model is the floor. So after testing, on a table
(data=table) only, this view fits scikit-learn's HistGradientBoostingClassifier/Regressor (category codes as native
categories) and a LogisticRegression/Ridge (categories one-hot) on the rows the network trained on, with the same
encoding (zoo.data.table_files), and scores them on the test split with the task's headline metric:

    hgb_test_acc, logistic_test_acc        (classification: accuracy)
    hgb_test_rmse, ridge_test_rmse         (regression: RMSE, in the target's units)

in metrics.json, the summary and the HPARAMS row (`zoo/<name>`); zoo-compare lists them as rows of their own beside
the families. Both are seeded by the data's split seed, so every run on the same rows gets the same figures.
For images and signals the linear family, `model=linear`, is that floor.
"""

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_only

from zoo.views.forecast_baselines import FORECASTERS

# zoo-compare's rows of them, with the forecasts' (zoo.views.forecast_baselines): the name in `results` -> the row's.
CLASSICAL = {
    "hgb": "gradient boosting (sklearn)",
    "logistic": "logistic regression (sklearn)",
    "ridge": "ridge regression (sklearn)",
    **FORECASTERS,
}


def classical_scores(datamodule) -> dict[str, float]:
    """Fit both classical models on the data module's training split; their test scores by result name."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    (x, y), (x_test, y_test) = (
        (a.cpu().numpy(), b.cpu().numpy()) for a, b in (datamodule.splits["train"], datamodule.splits["test"])
    )
    schema = datamodule.encoding.schema()
    numeric = schema["numeric"]
    codes = list(range(numeric, x.shape[1]))
    # HistGradientBoosting takes categories of fewer than 256 codes natively; a wider column stays a number.
    native = [column for column, count in zip(codes, schema["categories"], strict=False) if count <= 255]
    one_hot = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), codes)], remainder="passthrough"
    )
    seed = datamodule.split_seed
    if datamodule.task == "classification":
        boosted = HistGradientBoostingClassifier(categorical_features=native or None, random_state=seed)
        linear = make_pipeline(one_hot, LogisticRegression(max_iter=2000))
        models = {"hgb": boosted, "logistic": linear}
        return {
            f"{name}_test_acc": float((model.fit(x, y).predict(x_test) == y_test).mean())
            for name, model in models.items()
        }
    mean, std = datamodule.target_scale
    models = {
        "hgb": HistGradientBoostingRegressor(categorical_features=native or None, random_state=seed),
        "ridge": make_pipeline(one_hot, Ridge()),
    }
    scores = {}
    for name, model in models.items():
        predicted = model.fit(x, y).predict(x_test) * std + mean
        scores[f"{name}_test_rmse"] = float(np.sqrt(np.mean((predicted - (y_test * std + mean)) ** 2)))
    return scores


class ClassicalBaselines(L.Callback):
    """After testing, on tables: `classical_scores` in `results` (nothing for other data)."""

    def __init__(self) -> None:
        self.results: dict[str, float] = {}

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        from zoo.data.table import Table

        if isinstance(trainer.datamodule, Table):
            self.results = classical_scores(trainer.datamodule)
