"""One adapter per host of the registry and the predictions log: each spells
the operations of cases.py in its dialect and reports errors as HostError.
Everything dialect-specific (casts, placeholders, how a model is deployed,
how a value comes back) is here, never in the cases.

  extension   the predict extension, a database of a throwaway cluster
  managed     managed mode: a database of the same cluster where CREATE
              EXTENSION predict fails (58P01), the schema installed as the
              gateway installs it (test/managed_sql.py), owned by a plain role
  sqlite      Python's sqlite3 with ./predict_sqlite loaded on a new file:
              the extension creates its whole schema when it is loaded
"""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
if TEST not in sys.path:
    sys.path.insert(0, TEST)

from managed_sql import NO_EXTENSION_SQL, PREDICT_SCORE, compiled_sql, managed_schema_sql  # noqa: E402

# The operations of cases.py a host does not have: the cases that use one
# do not apply to it (test_conformance.py skips them, saying so). Every host
# has every operation now (managed mode's explanations since its 1.8).
LACKS = {}

ROW_COLUMNS = ("proba", "predicted_class", "model", "model_version", "true_class")
UPDATABLE = {"observation_id", "observation", "proba", "predicted_class", "model", "model_version", "true_class",
             "explanation"}
# the columns whose values are JSON (a case gives Python values: True is JSON's true)
JSON_COLUMNS = {"observation", "explanation"}


class HostError(Exception):
    """An error as a host reports it; fields it cannot report are None.
    client: the error comes from the host's client (managed mode's deploy
    command validating a model), which reports a message only."""

    def __init__(self, message, sqlstate=None, hint=None, detail=None, client=False):
        super().__init__(message)
        self.message, self.sqlstate, self.hint, self.detail = message, sqlstate, hint, detail
        self.client = client

    def __repr__(self):
        return "HostError(%r, %r, hint=%r, detail=%r)" % (self.message, self.sqlstate, self.hint, self.detail)


class PostgresHost:
    """What both PostgreSQL modes share: psycopg2, %s, jsonb."""

    # the fields of an error this host reports
    error_fields = ("message", "sqlstate", "hint", "detail")

    # the hint of a null explain (registry_check_explain, both modes)
    explain_hint = "Deploy with explain => true to explain every row the version logs, or false (the default)."

    def __init__(self, conn):
        self.conn = conn

    def close(self):
        self.conn.close()

    VOID = 2278     # pg_type's oid of void: psycopg2 reads a void as ''

    def _run(self, sql, params=()):
        import psycopg2
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
                if not cur.description:
                    return None
                rows = cur.fetchall()
                if cur.description[0].type_code == self.VOID:
                    rows = [(None,) for _ in rows]
                return rows
        except psycopg2.Error as e:
            d = e.diag
            raise HostError(d.message_primary, d.sqlstate, d.message_hint, d.message_detail) from None

    @staticmethod
    def _json(value):
        return None if value is None else json.dumps(value)

    def _one(self, sql, params=()):
        return self._run(sql, params)[0][0]

    def activate(self, name, version):
        return self._one("SELECT predict_activate(%s, %s::integer)", (name, version))

    def set_default(self, name):
        return self._one("SELECT predict_set_default(%s::text)", (name,))

    def proba(self, obs, *model):
        return self._one("SELECT predict_proba(%s::jsonb" + ", %s::text" * len(model) + ")",
                         (self._json(obs), *model))

    def klass(self, obs, *model):
        return self._one("SELECT predict_class(%s::jsonb" + ", %s::text" * len(model) + ")",
                         (self._json(obs), *model))

    def insert(self, oid, obs, **columns):
        names = ["observation_id", "observation", *columns]
        values = [self._json(v) if k in JSON_COLUMNS else v for k, v in columns.items()]
        self._run("INSERT INTO predictions (%s) VALUES (%%s, %%s::jsonb%s)"
                  % (", ".join(names), "".join(", %s::jsonb" if k in JSON_COLUMNS else ", %s" for k in columns)),
                  (oid, self._json(obs), *values))

    def insert_scored(self, oid, obs, *explanation):
        self._run("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version%s)"
                  " SELECT %%s, o, predict_proba(o), predict_class(o),"
                  " (SELECT m.name FROM predict_models m WHERE m.is_default),"
                  " (SELECT m.active_version FROM predict_models m WHERE m.is_default)%s"
                  " FROM (SELECT %%s::jsonb AS o) s" % ((", explanation", ", %s::jsonb") if explanation else ("", "")),
                  (oid, *[self._json(e) for e in explanation], self._json(obs)))

    def update(self, oid, column, value):
        assert column in UPDATABLE
        if column in JSON_COLUMNS:
            value = self._json(value)
        self._run("UPDATE predictions SET %s = %%s WHERE observation_id = %%s" % column, (value, oid))

    def explanation(self, oid):
        rows = self._run("SELECT explanation::text FROM predictions WHERE observation_id = %s", (oid,))
        return json_numbers_as_floats(rows[0][0]) if rows else None

    def row(self, oid):
        rows = self._run("SELECT %s FROM predictions WHERE observation_id = %%s" % ", ".join(ROW_COLUMNS), (oid,))
        return dict(zip(ROW_COLUMNS, rows[0])) if rows else None

    def models(self):
        return [list(r) for r in self._run("SELECT name, active_version, is_default FROM predict_models ORDER BY name")]

    def versions(self):
        return [list(r) for r in self._run("SELECT name, version FROM predict_model_versions ORDER BY name, version")]

    def delete(self, oid):
        self._run("DELETE FROM predictions WHERE observation_id = %s", (oid,))

    def delete_version(self, name, version):
        self._run("DELETE FROM predict_model_versions WHERE name = %s AND version = %s", (name, version))

    def delete_model(self, name):
        self._run("DELETE FROM predict_models WHERE name = %s", (name,))

    def set_active_version(self, name, version):
        self._run("UPDATE predict_models SET active_version = %s WHERE name = %s", (version, name))

    def insert_version(self, name, version, doc):
        self._run("INSERT INTO predict_model_versions (name, version, model) VALUES (%s, %s, %s::jsonb)",
                  (name, version, self._json(doc)))

    def report(self, model, since=None, until=None):
        return self._one("SELECT predict_report(%s::text, %s::timestamptz, %s::timestamptz)",
                         (model, since, until))

    # the same functions in both PostgreSQL modes
    def explain(self, obs, *model):
        return json_numbers_as_floats(self._one("SELECT predict_explain(%s::jsonb" + ", %s::text" * len(model)
                                                + ")::text", (self._json(obs), *model)))

    def reasons(self, obs, k, *model):
        return json_numbers_as_floats(self._one("SELECT predict_reasons(%s::jsonb, %s::integer"
                                                + ", %s::text" * len(model) + ")::text",
                                                (self._json(obs), k, *model)))


def explain_check(model_path):
    """Whether the core can explain the model: predict-score --explain on no
    observations, which refuses one it cannot explain."""
    subprocess.run([PREDICT_SCORE, "--model", str(model_path), "--explain"], input="",
                   capture_output=True, text=True, check=True)
    return True


def json_numbers_as_floats(text):
    """JSON text as Python values, every number a float (a JSON number is a
    double: 3 and 3.0 are the same), None for SQL NULL."""
    return None if text is None else json.loads(text, parse_int=float)


class ExtensionHost(PostgresHost):
    name = "extension"

    @staticmethod
    def deploy_hint(name):
        if name is None:
            return ("Deploy one first, for example: SELECT predict_deploy('titanic', "
                    "pg_read_file('/path/to/titanic.json')::jsonb); the first model deployed becomes the default.")
        return ("Deploy it first, for example: SELECT predict_deploy('%s', "
                "pg_read_file('/path/to/model.json')::jsonb);" % name)

    def deploy(self, name, doc, *explain):
        return self._one("SELECT predict_deploy(%s::text, %s::jsonb" + ", explain => %s::boolean" * len(explain) + ")",
                         (name, self._json(doc), *explain))


class ManagedHost(PostgresHost):
    """Managed mode has no predict_deploy: the client (the gateway's deploy
    command) validates and compiles the model and calls
    predict_internal.deploy_compiled, as test/managed and test/report do."""
    name = "managed"
    _compiled = {}

    @staticmethod
    def deploy_hint(name):
        if name is None:
            return ("Deploy one first: the gateway deploys PREDICT_MODEL when it starts, or run "
                    "bin/predict-gateway deploy MODEL.json; the first model deployed becomes the default.")
        return "Deploy it first: bin/predict-gateway deploy --name %s /path/to/model.json" % name

    _explainable = {}

    @staticmethod
    def _client(cache, text, command):
        """command(path) on the document (text), cached: its output, or the
        deploy command's refusal (predict-score's message after
        "predict-score: PATH: ") as a client's HostError."""
        if text not in cache:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                fh.write(text)
            try:
                cache[text] = command(fh.name)
            except subprocess.CalledProcessError as e:
                cache[text] = HostError(e.stderr.strip().split(fh.name + ": ", 1)[-1], client=True)
            finally:
                os.unlink(fh.name)
        if isinstance(cache[text], HostError):
            raise cache[text]
        return cache[text]

    def deploy(self, name, doc, *explain):
        compiled = None
        if doc is not None:
            text = json.dumps(doc, sort_keys=True)
            compiled = self._client(self._compiled, text, compiled_sql)
            if explain and explain[0]:
                # deploying with explain: the deploy command refuses a model the core
                # cannot explain, as predict-score --explain does
                self._client(self._explainable, text, explain_check)
        return self._one("SELECT predict_internal.deploy_compiled(%s::text, %s::jsonb, %s::text"
                         + ", %s::boolean" * len(explain) + ")", (name, self._json(doc), compiled, *explain))


class PostgresDatabases:
    """Fresh databases of one throwaway cluster (test/processes.py's
    Cluster), cloned from one template per PostgreSQL host."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.count = 0
        admin = cluster.connect()
        with admin.cursor() as cur:
            cur.execute("CREATE ROLE app LOGIN")
            cur.execute("CREATE DATABASE conformance_extension")
            cur.execute("CREATE DATABASE conformance_managed OWNER app")
        admin.close()
        conn = cluster.connect("conformance_extension")
        conn.cursor().execute("CREATE EXTENSION predict")
        conn.close()
        # managed mode: the extension cannot be created there, whoever asks
        conn = cluster.connect("conformance_managed")
        conn.cursor().execute(NO_EXTENSION_SQL)
        conn.close()
        conn = cluster.connect("conformance_managed", user="app")
        import psycopg2
        try:
            conn.cursor().execute("CREATE EXTENSION predict")
            raise AssertionError("CREATE EXTENSION predict worked in the managed database")
        except psycopg2.Error as e:
            assert e.pgcode == "58P01", e
        conn.cursor().execute(managed_schema_sql())
        conn.close()
        self.admin = cluster.connect()

    def open(self, host):
        self.count += 1
        db = "conformance_%s_%d" % (host, self.count)
        owner = " OWNER app" if host == "managed" else ""
        # FILE_COPY: the template's files copied, much faster than WAL_LOG here
        self.admin.cursor().execute("CREATE DATABASE %s TEMPLATE conformance_%s%s STRATEGY FILE_COPY"
                                    % (db, host, owner))
        conn = self.cluster.connect(db, user="app" if host == "managed" else None)
        conn.cursor().execute("SET extra_float_digits = 3; SET TimeZone = 'UTC'")
        h = (ExtensionHost if host == "extension" else ManagedHost)(conn)
        h.database = db
        return h

    def close(self, h):
        """Close a host's connection and drop its database (the cluster
        stays small)."""
        h.close()
        self.admin.cursor().execute("DROP DATABASE %s" % h.database)


class SqliteHost:
    """SQLite: no SQLSTATE; the message is PostgreSQL's errmsg, then its
    DETAIL and HINT as psql prints them, a line each (src/sqlite/extension.c),
    split here into fields. Booleans are 0/1 and the report is JSON text:
    both come back as PostgreSQL's."""
    name = "sqlite"
    error_fields = ("message", "hint", "detail")
    explain_hint = "Deploy with explain 1 (true) to explain every row the version logs, or 0 (false, the default)."

    @staticmethod
    def deploy_hint(name):
        if name is None:
            return ("Deploy one first, for example: SELECT predict_deploy('titanic', "
                    "readfile('/path/to/titanic.json')); the first model deployed becomes the default.")
        return ("Deploy it first, for example: SELECT predict_deploy('%s', readfile('/path/to/model.json'));"
                % name.replace("'", "''"))

    def __init__(self, path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.enable_load_extension(True)
        self.db.load_extension(os.path.join(REPO, "predict_sqlite"))

    def close(self):
        self.db.close()

    def _run(self, sql, params=()):
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._error(str(e)) from None

    @staticmethod
    def _error(text):
        lines = text.split("\n")
        fields = {"DETAIL": None, "HINT": None}
        for line in lines[1:]:
            key, _, value = line.partition(":  ")
            assert key in fields and fields[key] is None, text
            fields[key] = value
        return HostError(lines[0], None, fields["HINT"], fields["DETAIL"])

    def _one(self, sql, params=()):
        return self._run(sql, params)[0][0]

    @staticmethod
    def _json(value):
        return None if value is None else json.dumps(value)

    def deploy(self, name, doc, *explain):
        # SQLite's true and false: 1 and 0 (a Python bool is bound as one)
        return self._one("SELECT predict_deploy(?, ?" + ", ?" * len(explain) + ")", (name, self._json(doc), *explain))

    def activate(self, name, version):
        return self._one("SELECT predict_activate(?, ?)", (name, version))

    def set_default(self, name):
        return self._one("SELECT predict_set_default(?)", (name,))

    def proba(self, obs, *model):
        return self._one("SELECT predict_proba(?" + ", ?" * len(model) + ")", (self._json(obs), *model))

    def klass(self, obs, *model):
        v = self._one("SELECT predict_class(?" + ", ?" * len(model) + ")", (self._json(obs), *model))
        return None if v is None else bool(v)

    def explain(self, obs, *model):
        return json_numbers_as_floats(self._one("SELECT predict_explain(?" + ", ?" * len(model) + ")",
                                                (self._json(obs), *model)))

    def reasons(self, obs, k, *model):
        return json_numbers_as_floats(self._one("SELECT predict_reasons(?, ?" + ", ?" * len(model) + ")",
                                                (self._json(obs), k, *model)))

    def _value(self, column, value):
        """A column's value as SQLite stores it: JSON text (true as 'true'), booleans 0 and 1."""
        if column in JSON_COLUMNS:
            return self._json(value)
        return int(value) if isinstance(value, bool) else value

    def insert(self, oid, obs, **columns):
        names = ["observation_id", "observation", *columns]
        values = [self._value(k, v) for k, v in columns.items()]
        self._run("INSERT INTO predictions (%s) VALUES (?, ?%s)" % (", ".join(names), ", ?" * len(columns)),
                  (oid, self._json(obs), *values))

    def insert_scored(self, oid, obs, *explanation):
        # as the gateway's statement (gateway/db_sqlite.c) computes the score
        self._run("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version%s)"
                  " SELECT ?1, ?2, predict_proba(?2), predict_class(?2), predict_default_model(),"
                  " predict_model_version()%s" % ((", explanation", ", ?3") if explanation else ("", "")),
                  (oid, self._json(obs), *[self._json(e) for e in explanation]))

    def update(self, oid, column, value):
        assert column in UPDATABLE
        self._run("UPDATE predictions SET %s = ? WHERE observation_id = ?" % column,
                  (self._value(column, value), oid))

    def explanation(self, oid):
        rows = self._run("SELECT explanation FROM predictions WHERE observation_id = ?", (oid,))
        return json_numbers_as_floats(rows[0][0]) if rows else None

    def row(self, oid):
        rows = self._run("SELECT %s FROM predictions WHERE observation_id = ?" % ", ".join(ROW_COLUMNS), (oid,))
        if not rows:
            return None
        r = dict(zip(ROW_COLUMNS, rows[0]))
        r["predicted_class"] = bool(r["predicted_class"])
        return r

    def models(self):
        return [[n, v, bool(d)] for n, v, d in
                self._run("SELECT name, active_version, is_default FROM predict_models ORDER BY name")]

    def versions(self):
        return [list(r) for r in self._run("SELECT name, version FROM predict_model_versions ORDER BY name, version")]

    def delete(self, oid):
        self._run("DELETE FROM predictions WHERE observation_id = ?", (oid,))

    def delete_version(self, name, version):
        self._run("DELETE FROM predict_model_versions WHERE name = ? AND version = ?", (name, version))

    def delete_model(self, name):
        self._run("DELETE FROM predict_models WHERE name = ?", (name,))

    def set_active_version(self, name, version):
        self._run("UPDATE predict_models SET active_version = ? WHERE name = ?", (version, name))

    def insert_version(self, name, version, doc):
        self._run("INSERT INTO predict_model_versions (name, version, model) VALUES (?, ?, ?)",
                  (name, version, self._json(doc)))

    def report(self, model, since=None, until=None):
        return json.loads(self._one("SELECT predict_report(?, ?, ?)", (model, since, until)))


class SqliteFiles:
    """A fresh SQLite file per case: loading the extension creates the
    registry, predictions and their triggers, as CREATE EXTENSION does."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.count = 0

    def open(self):
        self.count += 1
        return SqliteHost(os.path.join(self.tmp, "case%d.db" % self.count))

    @staticmethod
    def close(h):
        h.close()
        os.unlink(h.path)
