"""The Titanic data for the tests: the real CSV when it is there, else a synthetic stand-in.

    from titanic_data import load_titanic, features_and_target, IS_REAL

load_titanic() reads $TITANIC_CSV, by default <repo>/../shared/data/titanic.csv.
When that file does not exist (a fresh clone), it returns a Titanic-shaped
synthetic frame: the same 12 columns and dtypes, 891 rows, realistic
distributions, missing Age/Cabin/Embarked, about 148 cabin codes and a
Survived column correlated with Sex and Pclass, generated from a fixed seed so
that every run gets the same rows.  The data set is never copied into the
repository.
"""

import os

import numpy as np
import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CSV = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "titanic.csv"))
DROPPED = ["Ticket", "Name", "PassengerId"]   # what the tutorial drops before training
TARGET = "Survived"
COLUMNS = ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch",
           "Ticket", "Fare", "Cabin", "Embarked"]
SEED = 20261126


def csv_path():
    """The CSV that load_titanic() reads when it exists."""
    return os.environ.get("TITANIC_CSV") or DEFAULT_CSV


def is_real():
    """True when load_titanic() returns the real data set."""
    return os.path.isfile(csv_path())


def load_titanic(path=None):
    """The Titanic frame (real if the CSV exists, else synthetic).

    The returned frame has an attribute-like flag in frame.attrs["source"]:
    "real:<path>" or "synthetic".
    """
    path = path or csv_path()
    if os.path.isfile(path):
        frame = pd.read_csv(path)
        frame.attrs["source"] = "real:%s" % path
        return frame
    frame = synthetic_titanic()
    frame.attrs["source"] = "synthetic"
    return frame


def features_and_target(frame=None):
    """(X, y) as the tutorial trains: Ticket, Name and PassengerId dropped, y = Survived."""
    if frame is None:
        frame = load_titanic()
    df = frame.drop(columns=DROPPED)
    return df.drop(columns=[TARGET]), df[TARGET]


def synthetic_titanic(n=891, seed=SEED):
    """A Titanic-shaped frame with the real data set's columns, dtypes and rough distributions."""
    rng = np.random.RandomState(seed)
    pclass = rng.choice([1, 2, 3], size=n, p=[0.24, 0.21, 0.55])
    male = rng.rand(n) < 0.65
    sex = np.where(male, "male", "female").astype(object)

    age = np.clip(rng.normal(np.select([pclass == 1, pclass == 2], [38.0, 30.0], 25.0), 14.0),
                  0.42, 80.0)
    age = np.where(age < 1, np.round(age, 2), np.floor(age) + (rng.rand(n) < 0.05) * 0.5)
    age[rng.rand(n) < 0.2] = np.nan

    sibsp = rng.choice([0, 1, 2, 3, 4, 5, 8], size=n, p=[0.68, 0.235, 0.031, 0.018, 0.02, 0.006, 0.01])
    parch = rng.choice([0, 1, 2, 3, 4, 5, 6], size=n, p=[0.76, 0.132, 0.09, 0.006, 0.005, 0.006, 0.001])

    base = np.select([pclass == 1, pclass == 2], [60.0, 14.0], 8.0)
    fare = np.round(base * np.exp(rng.normal(0.0, 0.55, size=n)) * (1 + 0.15 * (sibsp + parch)), 4)
    fare[rng.rand(n) < 0.015] = 0.0

    # ~148 distinct cabin codes, mostly first class, some shared, a few multi-cabin
    decks = np.array(list("ABCDEFG"))
    codes = []
    while len(codes) < 148:
        code = "%s%d" % (decks[rng.randint(0, 7)], rng.randint(1, 130))
        if rng.rand() < 0.06:
            code += " %s%d" % (code[0], rng.randint(1, 130))
        if code not in codes:
            codes.append(code)
    has_cabin = rng.rand(n) < np.select([pclass == 1, pclass == 2], [0.8, 0.08], 0.03)
    cabin = np.full(n, np.nan, dtype=object)
    idx = np.flatnonzero(has_cabin)
    assigned = codes[:len(idx)] + [codes[rng.randint(0, len(codes))]
                                   for _ in range(len(idx) - len(codes))]
    cabin[idx] = [assigned[i] for i in rng.permutation(len(idx))]

    embarked = rng.choice(np.array(["S", "C", "Q"], dtype=object), size=n, p=[0.72, 0.19, 0.09])
    embarked[rng.choice(n, size=2, replace=False)] = np.nan

    logit = 2.8 + np.where(male, -2.9, 0.0) - 1.0 * (pclass - 1) \
        - 0.02 * (np.nan_to_num(age, nan=30.0) - 30.0) - 0.25 * sibsp + 0.004 * fare
    survived = (rng.rand(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    first = np.array(["John", "William", "Mary", "Anna", "Charles", "Elizabeth", "James", "Margaret"])
    last = np.array(["Smith", "Brown", "Johnson", "Andersson", "Sage", "Carter", "Kelly", "Goodwin"])
    names = ["%s, %s. %s" % (last[rng.randint(0, 8)], "Mr" if m else "Miss", first[rng.randint(0, 8)])
             for m in male]
    tickets = [("PC %d" % rng.randint(10000, 20000)) if p == 1 else str(rng.randint(100000, 400000))
               for p in pclass]

    frame = pd.DataFrame({
        "PassengerId": np.arange(1, n + 1, dtype=np.int64),
        "Survived": survived,
        "Pclass": pclass.astype(np.int64),
        "Name": pd.Series(names, dtype=object),
        "Sex": pd.Series(sex, dtype=object),
        "Age": age.astype(np.float64),
        "SibSp": sibsp.astype(np.int64),
        "Parch": parch.astype(np.int64),
        "Ticket": pd.Series(tickets, dtype=object),
        "Fare": fare.astype(np.float64),
        "Cabin": pd.Series(cabin, dtype=object),
        "Embarked": pd.Series(embarked, dtype=object),
    }, columns=COLUMNS)
    return frame


if __name__ == "__main__":
    f = load_titanic()
    print(f.attrs["source"], f.shape)
    print(f.dtypes.to_string())
    print(f.isna().sum().to_string())
