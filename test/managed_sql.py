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
    (build/gateway/managed.sql, put together from src/pg/sql/ by
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


# Heroku Postgres and other managed services do not have the predict
# extension: CREATE EXTENSION predict fails there as PostgreSQL fails it for
# an extension that is not installed (58P01), whoever asks. A superuser's
# event trigger in template1, which every database created afterwards
# copies, makes a test cluster answer the same. (SECURITY DEFINER: the
# message reads data_directory, which a plain role may not.)
NO_EXTENSION_SQL = r"""
CREATE SCHEMA test_harness;
CREATE FUNCTION test_harness.predict_not_available() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_query() ~* 'create\s+extension\s+(if\s+not\s+exists\s+)?"?predict\M' THEN
        RAISE EXCEPTION USING ERRCODE = '58P01',
            MESSAGE = 'could not open extension control file "' || current_setting('data_directory')
                      || '/extension/predict.control": No such file or directory';
    END IF;
END
$$;
CREATE EVENT TRIGGER predict_not_available ON ddl_command_start WHEN TAG IN ('CREATE EXTENSION')
    EXECUTE FUNCTION test_harness.predict_not_available();
"""
