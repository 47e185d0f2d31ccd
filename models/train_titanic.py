#!/usr/bin/env python3
"""Train the tutorial's Titanic model and export it as models/titanic.json.

usage: models/train_titanic.py [TITANIC_CSV] [-o models/titanic.json] [--verify]
                               [--pickle-dir DIR] [--predict-score PATH]

The pipeline is the tutorial's, the same as the benchmark peer's
(../shared/peers/flask/train.py), with scikit-learn only: Ticket, Name and
PassengerId dropped; Sex, Cabin and Embarked imputed with the constant
'missing' and one-hot encoded with unknown categories ignored; Pclass, Age,
SibSp, Parch and Fare mean-imputed; LogisticRegression(max_iter=1000).

The CSV defaults to $TITANIC_CSV, else ../shared/data/titanic.csv relative to
the repository root.  The model is exported with tools/predict_export.py
(name "titanic") with the training rows as its reference (what monitoring
compares the predictions with); --verify then scores every CSV row with
scikit-learn and with bin/predict-score and fails unless they agree within
1e-12.
"""

import argparse
import os
import sys

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))

import predict_export as pe  # noqa: E402

CATEGORICAL = ["Sex", "Cabin", "Embarked"]
NUMERIC = ["Pclass", "Age", "SibSp", "Parch", "Fare"]
DROPPED = ["Ticket", "Name", "PassengerId"]


def default_csv():
    return os.environ.get("TITANIC_CSV") or os.path.normpath(
        os.path.join(REPO, "..", "shared", "data", "titanic.csv"))


def train(df):
    """(pipeline, X) fitted exactly as the tutorial (and the peer's train.py) does."""
    df = df.drop(columns=DROPPED)
    X, y = df.drop(columns=["Survived"]), df["Survived"]
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CATEGORICAL),
        ("num", SimpleImputer(strategy="mean"), NUMERIC),
    ])
    pipeline = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)
    return pipeline, X


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv", nargs="?", default=None, metavar="TITANIC_CSV")
    p.add_argument("-o", "--output", default=os.path.join(HERE, "titanic.json"))
    p.add_argument("--verify", action="store_true",
                   help="compare scikit-learn and bin/predict-score on every CSV row")
    p.add_argument("--predict-score", metavar="PATH", help="the predict-score CLI for --verify")
    p.add_argument("--pickle-dir", metavar="DIR",
                   help="also save the tutorial's artifacts (pipeline.pickle, columns.json, "
                        "dtypes.pickle) there")
    args = p.parse_args(argv)

    csv = args.csv or default_csv()
    if not os.path.isfile(csv):
        p.error("%s: no such file (pass TITANIC_CSV or set $TITANIC_CSV)" % csv)
    df = pd.read_csv(csv)
    pipeline, X = train(df)

    if args.pickle_dir:
        import json
        import pickle
        import joblib
        os.makedirs(args.pickle_dir, exist_ok=True)
        joblib.dump(pipeline, os.path.join(args.pickle_dir, "pipeline.pickle"))
        with open(os.path.join(args.pickle_dir, "columns.json"), "w") as fh:
            json.dump(X.columns.tolist(), fh)
        with open(os.path.join(args.pickle_dir, "dtypes.pickle"), "wb") as fh:
            pickle.dump(X.dtypes, fh)

    doc = pe.export(pipeline, columns=X.columns.tolist(), dtypes=dict(X.dtypes.items()),
                    name="titanic", source=os.path.basename(csv), training_rows=len(X),
                    threshold=0.5)   # the bundled model's documented threshold
    doc["provenance"]["source"] = "models/train_titanic.py on %s" % os.path.basename(csv)
    # the training rows as monitoring's reference, so that drift is measured
    # from the first prediction (the page's drift tiles, predict_report_psi)
    observations = pe.frame_to_observations(X, X.columns.tolist())
    scores = pe.sklearn_scores(pipeline, doc, observations)
    doc["reference"] = pe.reference(doc, observations, scores, pipeline=pipeline)
    pe.write_model(doc, args.output)
    print("wrote %s: %d columns, %d blocks, %d features, trained on %d rows, reference of %d"
          % (args.output, len(doc["columns"]), len(doc["preprocessing"]),
             len(doc["estimator"]["coef"]), len(X), doc["reference"]["rows"]))

    if args.verify:
        if not pe.verify(pipeline, doc, args.output, observations,
                         predict_score=args.predict_score, sklearn_results=scores):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
