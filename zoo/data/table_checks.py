"""What can make a table's scores lie, said in a run's first lines (and kept in the run folder's data_checks.json,
which zoo-compare's report shows) before anything trains:

- rows of the test split (or fold) that also appear, exactly, in the training rows: a file that repeats rows (an
  export with a bad join) puts copies of the test rows into training, and the test score counts rows the model has
  seen; `data.dedupe=true` drops repeated rows before splitting;
- a column that looks like an identifier (text or packed whole numbers with a different value in every row, or a
  counter that rises row by row): as a feature it can only memorize rows; `data.drop=[...]` leaves it out;
- one feature that alone predicts the target almost perfectly on the training rows (a leak: the target under
  another name, or something known only after the fact).

Each is a zoo.data.contract.DataNote: the check that raised it and one line of text. None of them stops a run: each
can be what the user means, but none should pass without a word.
"""

import numpy as np

from zoo.data.contract import DataNote

MIN_ROWS = 20  # fewer rows than this say nothing about identifiers or leaks
LEAK_SCORE = 0.99  # balanced accuracy (classes) or R-squared (a quantity) of one feature alone on the training rows
LEAK_ROWS = 20_000  # the training rows the leak check looks at, at most (a seeded draw)


def row_hashes(frame, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row of `columns` (the features and the target): equal rows, equal hashes."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()


def repeated_rows(hashes: np.ndarray) -> np.ndarray:
    """Whether each row repeats an earlier one."""
    _, first = np.unique(hashes, return_index=True)
    repeated = np.ones(len(hashes), dtype=bool)
    repeated[first] = False
    return repeated


def duplicates_across_splits(hashes: np.ndarray, positions: dict, split: str = "test") -> DataNote | None:
    """How many rows of `split` also appear, exactly, among the rows trained or validated on."""
    seen = np.isin(hashes[positions[split].numpy()], hashes[np.concatenate([positions["train"], positions["val"]])])
    if not seen.any():
        return None
    return DataNote(
        "duplicates",
        f"{int(seen.sum()):,} of the {len(seen):,} {split} rows also appear, exactly, in the training rows (the file "
        f"repeats {int(repeated_rows(hashes).sum()):,} of its {len(hashes):,} rows): the {split} score counts rows the "
        f"model has seen; data.dedupe=true drops repeated rows before splitting",
    )


def identifier_columns(frame, features: list[str]) -> list[DataNote]:
    """Features that look like identifiers: whole numbers or text with a different value in every row, or numbers
    that only rise (or only fall) from row to row, as a counter does."""
    from pandas.api import types

    if len(frame) < MIN_ROWS:
        return []
    notes = []
    for column in features:
        values = frame[column]
        numeric = types.is_numeric_dtype(values) and not types.is_bool_dtype(values)
        why = None
        if (
            numeric
            and values.notna().all()
            and values.is_unique
            and (values.is_monotonic_increasing or values.is_monotonic_decreasing)
        ):
            why = "a counter: it only " + ("rises" if values.is_monotonic_increasing else "falls") + " from row to row"
        elif values.notna().all() and values.is_unique and (not numeric or dense_whole_numbers(values)):
            why = "a different value in every row"
        if why:
            notes.append(
                DataNote(
                    "identifier",
                    f"column {column!r} looks like an identifier ({why}): as a feature it can only memorize rows; "
                    f"leave it out with data.drop=[{column}]",
                )
            )
    return notes


def dense_whole_numbers(values) -> bool:
    """Whole numbers packed as identifiers are (1 to n, shuffled; codes of a few more digits), not spread as
    populations or prices are: their span is at most ten times their count."""
    return bool((values == values.round()).all()) and float(values.max() - values.min()) <= 10 * len(values)


def single_feature_leaks(x: np.ndarray, y: np.ndarray, names: list[str], task: str, seed: int = 0) -> list[DataNote]:
    """Features that alone predict the target almost perfectly on the training rows `x`, `y` (encoded): a shallow
    tree on the one feature (at most 8 leaves of at least 1% of the rows each, so an identifier cannot memorize its
    way there), scored by balanced accuracy for classes and R-squared for a quantity; for a quantity the squared rank
    correlation too (a leak may be any monotone function of the target)."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if len(y) < MIN_ROWS:
        return []
    if len(y) > LEAK_ROWS:
        kept = np.random.default_rng(seed).permutation(len(y))[:LEAK_ROWS]
        x, y = x[kept], y[kept]
    classes = task == "classification"
    if classes and len(np.unique(y)) < 2:
        return []
    leaf = max(2, len(y) // 100)
    notes = []
    for column, name in enumerate(names):
        if name.endswith(" missing"):  # a missing-indicator: it says nothing the feature itself does not
            continue
        # As the trees hold it (float32, contiguous), so that fit and predict skip their checks: a table's every
        # feature is tested before its first run, and those checks cost more than the trees.
        feature = np.ascontiguousarray(x[:, column : column + 1], dtype=np.float32)
        if classes:
            tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=leaf, random_state=seed)
            predicted = tree.fit(feature, y, check_input=False).predict(feature, check_input=False)
            score = float(np.mean([(predicted[y == label] == label).mean() for label in np.unique(y)]))
            measure = "balanced accuracy"
        else:
            tree = DecisionTreeRegressor(max_depth=3, min_samples_leaf=leaf, random_state=seed)
            predicted = tree.fit(feature, y, check_input=False).predict(feature, check_input=False)
            score = max(r_squared(y, predicted), rank_correlation(feature[:, 0], y) ** 2)
            measure = "R-squared"
        if score >= LEAK_SCORE:
            notes.append(
                DataNote(
                    "leak",
                    f"column {name!r} alone predicts the target almost perfectly on the training rows ({measure} "
                    f"{score:.3f} from a tree of 8 leaves): is it the target under another name, or known only after "
                    f"the fact? If so, leave it out with data.drop=[{name}]",
                )
            )
    return notes


def r_squared(y: np.ndarray, predicted: np.ndarray) -> float:
    """The share of y's variance `predicted` explains (sklearn's r2_score; 0 where y is constant)."""
    total = float(((y - y.mean()) ** 2).sum())
    return 1 - float(((y - predicted) ** 2).sum()) / total if total else 0.0


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (0 where either is constant)."""
    import pandas as pd

    value = pd.Series(a).corr(pd.Series(b), method="spearman")
    return 0.0 if np.isnan(value) else float(value)
