"""Managed mode's SQL as the gateway installs it, for the tests that set up a
managed database themselves (test/managed, test/report)."""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICT_SCORE = os.environ.get("PREDICT_SCORE", os.path.join(REPO, "bin", "predict-score"))


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def managed_schema_sql(schema="public", script="managed.sql"):
    """Managed mode's schema for a schema name, as the gateway runs it
    (build/gateway/managed.sql, put together from sql/schema/ by
    mk/gateway.mk): in one transaction whose search_path is pg_catalog only."""
    with open(os.path.join(REPO, "build", "gateway", script), encoding="utf-8") as fh:
        text = fh.read()
    text = text.replace("@extschema_name@", schema.replace("'", "''")).replace("@extschema@", quote_ident(schema))
    return "BEGIN;\nSET LOCAL search_path = pg_catalog, pg_temp;\n" + text + "\nCOMMIT;\n"


def compiled_sql(model_path):
    """The model compiled to PL/pgSQL by the C core (predict-score --sql), its
    helpers in schema predict_internal."""
    proc = subprocess.run([PREDICT_SCORE, "--model", str(model_path), "--sql"],
                          capture_output=True, text=True, check=True)
    return proc.stdout
