"""The search_path attack (issue 14), played as an attacker would.

A role that may create objects in schema public (every database created
before PostgreSQL 15 lets PUBLIC) plants there, for every function, operator
and type name that our SQL uses, a same-named object that records that it
ran (a WARNING in the server's log, which no rollback and no SET clause
undoes, a row in the attacker's table and a tick of its sequence):

- a function for each of pg_catalog's signatures of that name, with concrete
  types where PostgreSQL's is polymorphic (anyelement, anyarray, "any"...),
  so that the planted one is an exact match wherever it can be seen;
- an aggregate for each aggregate or window function of that name;
- an operator for each of pg_catalog's operators of that name;
- a domain over each pg_catalog type named in our SQL, whose CHECK runs the
  attacker's function whenever a value is cast to it;
- next to our own user-facing functions, overloads with text (or varchar)
  where ours take another type, and no default (those would only make the
  calls ambiguous).

The names are collected by the test from our SQL, not written down here: the
schema files (src/pg/sql/*.sql, src/managed/sql/*.sql), the scorers the C core compiles (models/,
test/pg/models/, test/fuzz/seeds/model/), the SQL in the C sources' string
literals (the extension's SPI queries, the gateway's statements), and the
installed functions' own sources (pg_proc.prosrc, pg_get_functiondef) after
install and deploy, so that a new call in our SQL is planted for
automatically.

Then a superuser installs the schema after the planting (CREATE EXTENSION
predict; CREATE EXTENSION predict VERSION '1.0' before the planting and ALTER
EXTENSION predict UPDATE after it; the gateway's first start, creating the
extension or the managed schema), deploys, calls every documented function
(with the default search_path, and with public before pg_catalog), and a
gateway connected as that superuser (with the role's default search_path,
and with public first) serves every route. Nothing of the attacker's may
run, and every call must give the right answer.

Found by it and fixed: the gateway's serving statements cast to unqualified
types (observation::text: a public.text domain ran), and the README's report
call passed untyped dates (an attacker's predict_report(text, text, text)
took it; the README now types them)."""

import itertools
import json
import os
import re
import subprocess

import psycopg2
import pytest

from processes import EXTENSION_VERSION, REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

SCORE = os.path.join(REPO, "bin", "predict-score")
MODEL = os.path.join(REPO, "models", "titanic.json")
FOREST = os.path.join(REPO, "test", "fuzz", "seeds", "model", "sklearn_forest.json")
OBS = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}
# the README's untyped call, as written there
UNTYPED_OBS = ('{"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, '
               '"Embarked": "S"}')

# extension: CREATE EXTENSION by the superuser after the planting;
# extension-1.0: installed as 1.0 before it (an older database), ALTER
# EXTENSION UPDATE after; extension-gateway: the gateway's first start
# creates the extension; managed: the gateway's first start installs the
# managed schema.
SETUPS = ("extension", "extension-1.0", "extension-gateway", "managed")

# The attacker's concrete stand-ins for pg_catalog's polymorphic types.
CONCRETE = ["text", "double precision", "integer", "bigint", "numeric", "jsonb", "boolean", "smallint",
            "timestamp with time zone", "date"]
POLYMORPHIC = ("anyelement", "anycompatible", "anynonarray", "anycompatiblenonarray")
POLYMORPHIC_ARRAY = ("anyarray", "anycompatiblearray")
RANGES = {"anyrange": "int4range", "anycompatiblerange": "int4range",
          "anymultirange": "int4multirange", "anycompatiblemultirange": "int4multirange"}
NOT_PLANTABLE = ("internal", "cstring", "anyenum", "record", "trigger", "event_trigger", "language_handler",
                 "fdw_handler", "table_am_handler", "index_am_handler", "tsm_handler", "pg_ddl_command")
# Words that look like calls in SQL and PL/pgSQL but are syntax. Names that
# have no pg_proc entry in pg_catalog (coalesce, greatest, least, nullif) are
# dropped anyway.
KEYWORDS = {"in", "exists", "values", "any", "some", "all", "case", "cast", "filter", "over", "array", "row",
            "not", "and", "or", "select", "from", "where", "on", "using", "as", "returns", "table", "function",
            "procedure", "insert", "into", "update", "set", "grouping", "if", "elsif", "loop", "return",
            "perform", "raise", "execute", "lateral", "join", "with", "key", "references", "check", "unique",
            "primary", "index", "exception", "when", "then", "else", "end", "begin", "declare", "window",
            "partition", "by", "order", "group", "having", "limit", "offset", "returning", "conflict",
            "constraint", "foreign", "trigger", "default", "is", "distinct"}
# Syntax that PostgreSQL turns into an operator looked up by name (gram.y:
# makeSimpleA_Expr with an unqualified name), as opposed to SUBSTRING,
# POSITION, TRIM, EXTRACT, OVERLAY or AT TIME ZONE, which it turns into
# pg_catalog-qualified calls.
SYNTAX_OPERATORS = [
    (r"\bnot\s+like\b", ["!~~"]), (r"\blike\b", ["~~"]), (r"\bnot\s+ilike\b", ["!~~*"]),
    (r"\bilike\b", ["~~*"]), (r"\bsimilar\s+to\b", ["~", "!~"]), (r"\bbetween\b", [">=", "<=", ">", "<"]),
    (r"\bis\s+(not\s+)?distinct\s+from\b", ["=", "<>"]), (r"\bnot\s+in\s*\(", ["<>"]), (r"\bin\s*\(", ["="]),
    (r"\bcase\b", ["="]), (r"\bnullif\s*\(", ["="]),
]
# Who planted what: every object of the attacker records its kind first.
KINDS = ("function", "aggregate", "operator", "domain", "own")
# 42723: a function of that signature exists already
DUPLICATE_FUNCTION = "42723"


# ---------- what our SQL calls ----------

def strip_comments(text):
    """SQL without its comments. String literals are kept, as code: dynamic
    SQL is in literals (EXECUTE format('SELECT ...')), and what it calls is
    called too."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif text[i] == "'":
            j = i + 1
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] in "_$"))
            while j < n:
                if escapes and text[j] == "\\":
                    j += 2
                elif text.startswith("''", j):
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            out.append(" " + text[i + 1:j].replace("''", "'") + " ")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def c_string_literals(path):
    """The string literals of a C file, adjacent ones joined: the SQL the C
    code sends (the extension's SPI queries, the gateway's statements)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    literals = re.findall(r'"((?:[^"\\\n]|\\.)*)"', text)
    return "\n".join(bytes(s, "utf-8").decode("unicode_escape", "replace") for s in literals)


OPERATOR_CHARS = "+-*/<>=~!@#%^&|`?"


def operator_tokens(text):
    """Operator tokens as PostgreSQL's lexer cuts them: a run of operator
    characters, less a trailing + or - unless the run has one of ~!@#%^&|`?
    (that + or - is then a prefix operator of its own)."""
    for run in re.findall(r"[%s]+" % re.escape(OPERATOR_CHARS), text):
        while len(run) > 1 and run[-1] in "+-" and not any(c in run for c in "~!@#%^&|`?"):
            yield run[-1]
            run = run[:-1]
        yield run


def called(texts):
    """(function names, operator names, identifiers) used by these SQL texts."""
    names, operators, words = set(), set(), set()
    for text in texts:
        text = strip_comments(text)
        for m in re.finditer(r"(?<![A-Za-z0-9_$.])([A-Za-z_][A-Za-z0-9_$]*)\s*\(", text):
            names.add(m.group(1).lower())
        for m in re.finditer(r"\bpg_catalog\.([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
            names.add(m.group(1).lower())            # what our code qualifies is planted too
        for m in re.finditer(r"OPERATOR\s*\(\s*(?:pg_catalog\s*\.\s*)?([^)\s]+)\s*\)", text, re.I):
            operators.add(m.group(1))
        operators.update(operator_tokens(text))
        for pattern, ops in SYNTAX_OPERATORS:
            if re.search(pattern, text, re.I):
                operators.update(ops)
        words.update(w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return names - KEYWORDS, operators, words


def model_files():
    files = [MODEL]
    for folder in (os.path.join(REPO, "test", "pg", "models"), os.path.join(REPO, "test", "fuzz", "seeds", "model")):
        if os.path.isdir(folder):
            files += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".json")]
    return files


def static_sources():
    """Our SQL before anything is installed: {source: text}."""
    texts = {}
    for folder in ("src/pg/sql", "src/managed/sql"):
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            if name.endswith(".sql") and not name.startswith("predict--"):
                with open(os.path.join(REPO, folder, name), encoding="utf-8") as fh:
                    texts[folder + "/" + name] = fh.read()
    compiled = 0
    for model in model_files():
        done = subprocess.run([SCORE, "--model", model, "--sql"], capture_output=True, text=True)
        if done.returncode == 0:
            texts["predict-score --sql " + os.path.relpath(model, REPO)] = done.stdout
            compiled += 1
    assert compiled >= 5, "predict-score --sql compiled %d models" % compiled
    for folder, keep in (("src/pg", None), ("src/managed", None), ("gateway", None)):
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            if name.endswith(".c") and (keep is None or name in keep):
                texts[folder + "/" + name] = c_string_literals(os.path.join(REPO, folder, name))
    return texts


def installed_sources(cluster, db):
    """The installed functions' sources, in the predict schema (public) and
    predict_internal: managed mode's compiled scorers, and the SQL-standard
    bodies deparsed."""
    rows = cluster.sql(db, """
        SELECT p.prosrc, pg_get_functiondef(p.oid) FROM pg_proc p
         WHERE p.pronamespace IN ('public'::regnamespace, 'predict_internal'::regnamespace)
           AND p.prokind IN ('f', 'p') AND p.proowner <> 'attacker'::regrole""")
    assert len(rows) >= 30, rows
    return [r[0] for r in rows] + [r[1] for r in rows]


# ---------- what the attacker plants ----------

def attack_body(kind, label, result="NULL"):
    """The body of every object of the attacker: it records that it ran and
    calls nothing that could itself be planted (only pg_catalog-qualified
    calls, no operator). 'HIJ%' keeps the marker out of the statement's own
    text, which the log shows when a CREATE fails."""
    label = ("%s %s" % (kind, label)).replace("'", "''")
    return ("$attack$ BEGIN RAISE WARNING 'HIJ%%', 'ACKED %s'; "
            "PERFORM pg_catalog.nextval('public.attacker_calls'::pg_catalog.regclass); "
            "INSERT INTO public.attacker_log (what) VALUES ('%s'); RETURN %s; END $attack$"
            % (label, label, result)).replace("RETURN ;", "RETURN;")


def substitute(text, t):
    """pg_catalog's polymorphic types in a signature, made concrete with t."""
    text = re.sub(r'VARIADIC "any"', "VARIADIC %s[]" % t, text)
    text = text.replace('"any"', t)
    for poly, concrete in RANGES.items():
        text = re.sub(r"\b%s\b" % poly, concrete, text)
    for poly in POLYMORPHIC_ARRAY:
        text = re.sub(r"\b%s\b" % poly, t + "[]", text)
    for poly in POLYMORPHIC:
        text = re.sub(r"\b%s\b" % poly, t, text)
    return text


def polymorphic(text):
    return bool(re.search(r'"any"|\bany(element|compatible|nonarray|compatiblenonarray|array|compatiblearray|'
                          r'range|compatiblerange|multirange|compatiblemultirange)\b', text))


def plantable(args, *results):
    """Whether an attacker's function can have these argument and result
    types (a set of records it can return: the caller names the columns)."""
    def has(text, bad):
        return re.search(r'(^|[\s(,])%s(\[\]|\b)' % re.escape(bad), text)
    return not any(has(args, bad) for bad in NOT_PLANTABLE) and \
        not any(has(r, bad) for r in results for bad in NOT_PLANTABLE if bad != "record")


def variants(*texts):
    """The texts made concrete: once per concrete type if polymorphic."""
    if any(polymorphic(t) for t in texts):
        return [tuple(substitute(x, t) for x in texts) for t in CONCRETE]
    return [texts]


def function_plants(cur, names, seen):
    cur.execute("""SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_identity_arguments(p.oid),
                          pg_get_function_result(p.oid), p.proretset
                     FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY(%s)
                      AND p.prokind = 'f'""", (sorted(names),))
    plants = []
    for name, args, identity, result, retset in cur.fetchall():
        if not plantable(args, result):
            plants.append(("function", None, name))
            continue
        for a, i, r in variants(args, identity, result):
            if fresh(seen, "function", name, i):
                returns_nothing = retset or r == "void" or re.search(r"(^|, )(IN)?OUT ", a)
                label = "%s(%s)" % (name, i)
                plants.append(("function",
                               "CREATE FUNCTION public.%s(%s) RETURNS %s LANGUAGE plpgsql AS %s"
                               % (quote_ident(name), a, r,
                                  attack_body("function", label, "" if returns_nothing else "NULL")), name))
    return plants


def fresh(seen, *key):
    """Whether this signature is new (two polymorphic signatures of
    pg_catalog's can make the same concrete one)."""
    key = tuple(re.sub(r"\s+", " ", k) for k in key)
    if key in seen:
        return False
    seen.add(key)
    return True


def aggregate_plants(cur, names, counter, seen):
    """Aggregates (and window functions, which an aggregate can stand in for:
    lag(x) OVER (...) calls an aggregate of that name as well)."""
    cur.execute("""SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
                          p.prokind, coalesce(a.aggkind, 'n')
                     FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
                    WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY(%s)
                      AND p.prokind IN ('a', 'w')""", (sorted(names),))
    plants = []
    for name, args, result, prokind, aggkind in cur.fetchall():
        if aggkind == "h" or not plantable(args, result):
            plants.append(("aggregate", None, name))
            continue
        for a, r in variants(args, result):
            if not fresh(seen, "aggregate", name, a):
                continue
            counter[0] += 1
            n = counter[0]
            if aggkind == "o":
                direct, aggregated = [x.strip() for x in a.split("ORDER BY")]
            else:
                direct, aggregated = "", a
            label = "%s(%s)" % (name, a)
            sfunc = "public.attack_sfunc_%d" % n
            final = "public.attack_final_%d" % n
            plants.append(("aggregate", [
                "CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql AS %s"
                % (sfunc, ", ".join(x for x in (r, aggregated) if x), r, attack_body("aggregate", label)),
                "CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql AS %s"
                % (final, ", ".join(x for x in (r, direct) if x), r, attack_body("aggregate", label)),
                "CREATE AGGREGATE public.%s(%s) (SFUNC = %s, STYPE = %s, FINALFUNC = %s)"
                % (quote_ident(name), a or "*", sfunc, r, final)], name))
    return plants


def operator_plants(cur, operators, counter, seen):
    cur.execute("""SELECT o.oprname, o.oprleft::regtype::text, o.oprright::regtype::text,
                          o.oprresult::regtype::text
                     FROM pg_operator o WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprname = ANY(%s)""",
                (sorted(operators),))
    plants = []
    for op, left, right, result in cur.fetchall():
        if not plantable(left, right, result):
            plants.append(("operator", None, op))
            continue
        for l, rt, res in variants(left, right, result):
            if not fresh(seen, "operator", op, l, rt):
                continue
            counter[0] += 1
            fn = "public.attack_op_%d" % counter[0]
            label = "%s(%s, %s)" % (op, l, rt)
            params = ", ".join(x for x in (None if l == "-" else l, rt) if x)
            plants.append(("operator", [
                "CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql AS %s"
                % (fn, params, res, attack_body("operator", label)),
                "CREATE OPERATOR public.%s (%sRIGHTARG = %s, FUNCTION = %s)"
                % (op, "" if l == "-" else "LEFTARG = %s, " % l, rt, fn)], op))
    return plants


def domain_plants(cur, words):
    """A domain named like each pg_catalog type our SQL names: wherever a
    type name is looked up through a search_path that has public before
    pg_catalog, x::text makes a public.text, and its CHECK runs."""
    cur.execute("""SELECT t.typname FROM pg_type t
                    WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typtype IN ('b', 'r', 'm')
                      AND t.typcategory <> 'A' AND t.typname = ANY(%s)""", (sorted(words),))
    plants = []
    for (typ,) in cur.fetchall():
        q = quote_ident(typ)
        fn = "public.attack_domain_%s" % typ
        plants.append(("domain", [
            "CREATE FUNCTION %s(v pg_catalog.%s) RETURNS pg_catalog.bool LANGUAGE plpgsql AS %s"
            % (fn, q, attack_body("domain", typ, "true")),
            "CREATE DOMAIN public.%s AS pg_catalog.%s CHECK (%s(VALUE))" % (q, q, fn)], typ))
    return plants


def own_plants(cur):
    """Next to each of our user-facing functions, overloads that take text
    (or varchar) where ours take another type, at every length a call may
    have, with our parameter names (named calls see them too) and without
    defaults. An overload that is one of ours already (our text overloads)
    cannot be created: test_our_own_text_overloads_cannot_be_taken."""
    cur.execute("""SELECT p.proname, p.proargtypes::regtype[]::text[], coalesce(p.proargnames, '{}'),
                          p.pronargdefaults, pg_get_function_result(p.oid)
                     FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'predict%%'
                      AND p.proowner <> 'attacker'::regrole AND p.prokind = 'f'""")
    ours = cur.fetchall()
    taken = set()
    for name, types, _, ndefaults, _ in ours:
        for k in range(len(types) - ndefaults, len(types) + 1):
            taken.add((name, tuple(types[:k])))
    plants, seen = [], set()
    for name, types, argnames, ndefaults, result in ours:
        if result == "trigger":
            continue
        for k in range(max(1, len(types) - ndefaults), len(types) + 1):
            head = types[:k]
            options = [("text",) if t != "text" else ("text", "character varying") for t in head]
            for combo in itertools.product(*[o + ((t,) if t not in o else ()) for o, t in zip(options, head)]):
                if (name, combo) in taken or (name, combo) in seen:
                    continue
                seen.add((name, combo))
                params = ", ".join("%s %s" % (argnames[i] if i < len(argnames) and argnames[i] else "a%d" % i, t)
                                   for i, t in enumerate(combo))
                label = "%s(%s)" % (name, ", ".join(combo))
                returns_nothing = result.startswith("TABLE") or result.startswith("SETOF") or result == "void"
                plants.append(("own", "CREATE FUNCTION public.%s(%s) RETURNS %s LANGUAGE plpgsql AS %s"
                               % (name, params, result, attack_body("own", label, "" if returns_nothing
                                                                    else "NULL")), label))
    return plants


def quote_ident(name):
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"%s"' % name.replace('"', '""')


def plant(cluster, db, plants, tally):
    """Create the plants as the attacker: tally[kind] counts what was
    planted, refused (exists already, or a type PostgreSQL will not take)
    and skipped (a type no attacker's function can take)."""
    conn = cluster.connect(db, "attacker")
    cur = conn.cursor()
    for kind, statements, _ in plants:
        counts = tally.setdefault(kind, {"planted": 0, "refused": 0, "skipped": 0})
        if statements is None:
            counts["skipped"] += 1
            continue
        try:
            cur.execute("BEGIN")
            for statement in statements if isinstance(statements, list) else [statements]:
                cur.execute(statement)
            cur.execute("COMMIT")
            counts["planted"] += 1
        except psycopg2.Error as e:
            cur.execute("ROLLBACK")
            counts["refused"] += 1
            why = tally.setdefault("refusals", {})
            reason = "%s %s" % (kind, re.sub(r'"[^"]*"', '"..."', e.pgerror.splitlines()[0]))
            why[reason] = why.get(reason, 0) + 1
    conn.close()


def prepare_attacker(cluster, db):
    conn = cluster.connect(db, "attacker")
    cur = conn.cursor()
    cur.execute("CREATE TABLE public.attacker_log (id bigserial PRIMARY KEY, what text, "
                "who text DEFAULT current_user)")
    cur.execute("CREATE SEQUENCE public.attacker_calls")
    cur.execute("GRANT SELECT, INSERT ON public.attacker_log TO PUBLIC")
    cur.execute("GRANT USAGE ON SEQUENCE public.attacker_log_id_seq, public.attacker_calls TO PUBLIC")
    conn.close()


def plants_for(cur, names, operators, words, counters):
    seen = counters["seen"]
    return (function_plants(cur, names, seen) + aggregate_plants(cur, names, counters["aggregate"], seen)
            + operator_plants(cur, operators, counters["operator"], seen) + domain_plants(cur, words))


# ---------- what the attacker's objects recorded ----------

def mark(cluster, db):
    """Where the evidence stands now: the server log's size, the attacker's
    last row and its sequence."""
    log = os.path.getsize(os.path.join(cluster.dir, "server.log"))
    rows = cluster.sql(db, "SELECT coalesce(max(id), 0) FROM public.attacker_log")[0][0]
    calls = cluster.sql(db, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.attacker_calls")[0][0]
    return log, rows, calls


def hijacked(cluster, db, since):
    """What the attacker's objects recorded after mark() gave since: (rows,
    log warnings, sequence ticks)."""
    log, rows, calls = mark(cluster, db)
    what = [r[0] for r in cluster.sql(db, "SELECT what FROM public.attacker_log WHERE id > %s ORDER BY id",
                                      (since[1],))]
    with open(os.path.join(cluster.dir, "server.log"), errors="replace") as fh:
        fh.seek(since[0])
        warnings = [m.group(1) for m in re.finditer(r"WARNING:\s+HIJACKED (.*)", fh.read())]
    return what, warnings, calls - since[2]


def assert_untouched(evidence, what=""):
    rows, warnings, calls = evidence
    assert rows == [] and warnings == [] and calls == 0, \
        ("the attacker's objects ran%s" % what, sorted(set(rows + warnings))[:20], calls)


# ---------- the databases ----------

@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    c.sql("postgres", "CREATE ROLE attacker LOGIN")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def sources():
    return static_sources()


def expected(model, obs):
    done = subprocess.run([SCORE, "--model", model], input=json.dumps(obs) + "\n",
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


HOSTILE = {"PGOPTIONS": "-c search_path=public,pg_catalog"}


@pytest.fixture(scope="module", params=SETUPS)
def attacked(request, cluster, sources):
    """A database whose public schema the attacker planted before the
    superuser installed the predict schema (or updated it to 1.1), with the
    titanic model and a tree model deployed."""
    setup = request.param
    mode = "managed" if setup == "managed" else "extension"
    db = "attacked_" + setup.replace("-", "_").replace(".", "_")
    url = cluster.url(db)
    cluster.sql("postgres", "CREATE DATABASE " + db)
    cluster.sql(db, "GRANT CREATE ON SCHEMA public TO attacker")
    if setup == "extension-1.0":
        # an older database: 1.0 installed, a model stored, a row logged, before the attack
        # (stored as a restore does: 1.0's predict_deploy was C, which the module
        # keeps only to tell a database not yet updated to update)
        cluster.sql(db, "CREATE EXTENSION predict VERSION '1.0'")
        cluster.sql(db, "INSERT INTO predict_model_versions (name, version, model) VALUES ('titanic', 1, %s::jsonb);"
                        " INSERT INTO predict_models (name, active_version, is_default) VALUES ('titanic', 1, true)",
                    (open(MODEL).read(),))
        cluster.sql(db, "INSERT INTO predictions (observation_id, observation) VALUES (1, %s)", (json.dumps(OBS),))
    prepare_attacker(cluster, db)
    names, operators, words = called(sources.values())
    assert {"array_position", "width_bucket", "jsonb_typeof", "format", "abs", "count", "sum",
            "jsonb_build_object", "current_setting"} <= names, sorted(names)
    assert {"=", "<>", "->", "->>", "#>>", "||", "~", "-", "~~"} <= operators, sorted(operators)
    assert {"text", "jsonb", "float8", "timestamptz", "regprocedure"} <= words
    tally = {}
    counters = {"aggregate": [0], "operator": [0], "seen": set()}
    conn = cluster.connect(db, "attacker")
    before = plants_for(conn.cursor(), names, operators, words, counters)
    conn.close()
    plant(cluster, db, before, tally)
    since = mark(cluster, db)

    # the superuser installs (its own session with public before pg_catalog,
    # and the gateway's role with the same: the install must not depend on
    # the caller's search_path), then deploys titanic and a tree model
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("SET search_path = public, pg_catalog")
    if setup == "extension":
        cur.execute("CREATE EXTENSION predict")
    elif setup == "extension-1.0":
        cur.execute("ALTER EXTENSION predict UPDATE")
    conn.close()
    if setup in ("extension-gateway", "managed"):
        # the gateway's first start creates the schema in the current schema
        # (public) and deploys models/titanic.json
        proc, _ = run_gateway(url, dict(HOSTILE, PREDICT_MODE=mode))
        stop_gateway(proc)
    else:
        cluster.sql(db, "SELECT predict_deploy('titanic', %s::jsonb)", (open(MODEL).read(),))
    done = gateway_command(url, "deploy", "--name", "forest", FOREST, env=dict(HOSTILE, PREDICT_MODE=mode))
    assert done.returncode == 0, done.stderr
    if mode == "extension":
        assert cluster.sql(db, "SELECT extversion, extnamespace::regnamespace::text FROM pg_extension "
                               "WHERE extname = 'predict'") == [(EXTENSION_VERSION, "public")]
    assert cluster.sql(db, "SELECT to_regprocedure('public.predict_proba(jsonb)') IS NOT NULL, "
                           "(SELECT count(*) FROM public.predict_models)") == [(True, 2)]
    install = hijacked(cluster, db, since)

    # what the installed functions call, as installed, is planted too
    names2, operators2, words2 = called(installed_sources(cluster, db))
    conn = cluster.connect(db, "attacker")
    cur = conn.cursor()
    after = plants_for(cur, names2 - names, operators2 - operators, words2 - words, counters)
    own = own_plants(cur)
    conn.close()
    plant(cluster, db, after + own, tally)
    print("\n%s: %s (names collected: %d called, %d operators, %d words; %d more from the installed sources)"
          % (setup, "; ".join("%s %d planted, %d refused, %d skipped" % (k, v["planted"], v["refused"], v["skipped"])
                              for k, v in sorted(tally.items()) if k in KINDS),
             len(names), len(operators), len(words),
             len(names2 - names) + len(operators2 - operators) + len(words2 - words)))
    for reason, n in sorted(tally.get("refusals", {}).items()):
        print("  refused %dx: %s" % (n, reason))
    return {"setup": setup, "mode": mode, "db": db, "url": url, "tally": tally, "install": install,
            "own": [label for _, _, label in own]}


# ---------- the tests ----------

def test_the_install_ran_nothing_of_the_attackers(attacked):
    """CREATE EXTENSION, ALTER EXTENSION UPDATE, the gateway's managed
    set-up and first deploy, and the deploys, after the planting."""
    assert_untouched(attacked["install"], " during the install")


def test_the_attackers_objects_are_many_and_do_run_where_they_are_seen(cluster, attacked):
    """The test can fail: with public before pg_catalog on the attacker's own
    search_path, each kind of planted object runs."""
    db, tally = attacked["db"], attacked["tally"]
    assert tally["function"]["planted"] > 150, tally
    assert tally["operator"]["planted"] > 300, tally
    assert tally["aggregate"]["planted"] > 20, tally
    assert tally["domain"]["planted"] >= 8, tally
    assert tally["own"]["planted"] > 10, tally
    since = mark(cluster, db)
    conn = cluster.connect(db, "attacker")
    cur = conn.cursor()
    cur.execute("SET search_path = public, pg_catalog")
    cur.execute("SELECT array_position(ARRAY['a', 'b'], 'b')")
    cur.execute("SELECT format('%%s', 'a'::pg_catalog.text)")
    cur.execute("SELECT 1 = 1")
    cur.execute("SELECT count(*) FROM (VALUES (1)) v(x)")
    cur.execute("SELECT 'x'::text")
    # a failed statement leaves its evidence in the log and the sequence
    cur.execute("BEGIN")
    cur.execute("SELECT jsonb_typeof('{}'::pg_catalog.jsonb)")
    cur.execute("ROLLBACK")
    conn.close()
    rows, warnings, calls = hijacked(cluster, db, since)
    kinds = {w.split()[0] for w in warnings}
    assert {"function", "operator", "aggregate", "domain"} <= kinds, warnings
    assert any(w.startswith("function jsonb_typeof") for w in warnings), warnings
    assert not any(r.startswith("function jsonb_typeof") for r in rows), rows      # rolled back
    assert calls >= 6 and len(rows) >= 5, (calls, rows)


def test_without_its_search_path_a_function_of_ours_would_run_the_attackers(cluster, attacked):
    """What keeps the attacker out is each function's SET search_path: with
    it reset (in a transaction rolled back), the report runs the attacker's
    exact matches for PostgreSQL's variadic format() and concat_ws(), under
    the default search_path."""
    db = attacked["db"]
    since = mark(cluster, db)
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("ALTER FUNCTION predict_internal.report(text, timestamptz, timestamptz, integer, boolean, boolean) "
                "RESET search_path")
    try:
        cur.execute("SELECT predict_report()")
    except psycopg2.Error:
        pass                        # the attacker's functions return nulls
    cur.execute("ROLLBACK")
    conn.close()
    rows, warnings, calls = hijacked(cluster, db, since)
    assert any(w.startswith("function format(") for w in warnings), warnings
    assert rows == [] and calls >= 1, (rows, calls)
    # and the function has its search_path again
    assert "search_path=pg_catalog, pg_temp" in cluster.sql(
        db, "SELECT proconfig FROM pg_proc WHERE oid = 'predict_internal.report(text, timestamptz, timestamptz, "
            "integer, boolean, boolean)'::regprocedure")[0][0]


def test_our_own_text_overloads_cannot_be_taken(cluster, attacked):
    """predict_proba('{...}') is of type unknown, which PostgreSQL resolves to a
    text overload before a jsonb one: ours exist, so the attacker's cannot."""
    signatures = ["predict_proba(obs text)", "predict_proba(obs text, model text)", "predict_class(obs text)",
                  "predict_class(obs text, model text)"]
    if attacked["mode"] == "extension":
        signatures.append("predict_deploy(name text, model text)")
    conn = cluster.connect(attacked["db"], "attacker")
    cur = conn.cursor()
    for signature in signatures:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("CREATE FUNCTION public.%s RETURNS float8 LANGUAGE sql AS 'SELECT 1'" % signature)
        assert e.value.pgcode == DUPLICATE_FUNCTION, (signature, e.value.pgerror)
    # predict_internal is no one's to create in
    with pytest.raises(psycopg2.Error) as e:
        cur.execute("CREATE FUNCTION predict_internal.x() RETURNS int LANGUAGE sql RETURN 1")
    assert e.value.pgcode == "42501", e.value.pgerror
    conn.close()
    # and the others were planted next to ours
    own = attacked["own"]
    assert "predict_report(text, text, text)" in own and "predict_proba(character varying)" in own, own


def documented_calls(mode, safe_caller):
    """The documented calls, as the docs write them: (sql, params, check).
    With public before pg_catalog on the caller's own search_path, the
    caller's own operators, functions and casts are the attacker's (that path
    is the caller's to choose, docs/sql-reference.md, Security): safe_caller
    writes those qualified, to test only what ours do."""
    obs = json.dumps(OBS)
    titanic = expected(MODEL, OBS)
    age22 = expected(MODEL, {"Age": 22})
    forest = expected(FOREST, OBS)
    if safe_caller:
        jsonb, ts, now, minus, plus, eq = ("pg_catalog.jsonb", "pg_catalog.timestamptz", "pg_catalog.now()",
                                           "OPERATOR(pg_catalog.-)", "OPERATOR(pg_catalog.+)",
                                           "OPERATOR(pg_catalog.=)")
    else:
        jsonb, ts, now, minus, plus, eq = "jsonb", "timestamptz", "now()", "-", "+", "="
    p, c = titanic["proba"], titanic["predicted_class"]
    calls = []
    if mode == "extension":
        document = open(MODEL).read()
        calls += [
            ("SELECT predict_deploy('titanic', %%s::%s)" % jsonb, (document,), lambda r: r[0][0] >= 2),
            # psql's :'model' is an untyped literal
            ("SELECT predict_deploy('titanic', %s)", (document,), lambda r: r[0][0] >= 3),
        ]
    calls += [
        ("SELECT predict_activate('titanic', 1)", (), None),
        ("SELECT predict_set_default('titanic')", (), None),
        ("SELECT predict_proba(%%s::%s)" % jsonb, (obs,), lambda r: r == [(p,)]),
        ("SELECT predict_proba(%%s::%s, 'titanic')" % jsonb, (obs,), lambda r: r == [(p,)]),
        ("SELECT predict_class(%%s::%s)" % jsonb, (obs,), lambda r: r == [(c,)]),
        ("SELECT predict_class(%%s::%s, 'titanic')" % jsonb, (obs,), lambda r: r == [(c,)]),
        ("SELECT predict_proba(%%s::%s, 'forest')" % jsonb, (obs,), lambda r: r == [(forest["proba"],)]),
        # the README's untyped calls
        ("SELECT predict_proba('%s')" % UNTYPED_OBS, (), lambda r: r == [(p,)]),
        ("SELECT predict_proba('%s', 'titanic')" % UNTYPED_OBS, (), lambda r: r == [(p,)]),
        ("SELECT predict_class('%s')" % UNTYPED_OBS, (), lambda r: r == [(c,)]),
        ("SELECT predict_class('{\"Age\": 22}', 'titanic')", (), lambda r: r == [(age22["predicted_class"],)]),
        # the triggers: scored on INSERT, true_class only on UPDATE
        ("INSERT INTO predictions (observation_id, observation) VALUES (%%s, %%s::%s) "
         "RETURNING proba, predicted_class, model, model_version" % jsonb, "insert",
         lambda r: r == [(p, c, "titanic", 1)]),
        ("UPDATE predictions SET true_class = 1 WHERE observation_id %s %%s RETURNING true_class, proba" % eq,
         "update", lambda r: r == [(1, p)]),
        ("SELECT predict_report()", (), lambda r: r[0][0]["model"] == "titanic"),
        ("SELECT predict_report('titanic', %s %s interval '1 day', %s %s interval '1 day')"
         % (now, minus, now, plus), (), lambda r: r[0][0]["model"] == "titanic"),
        ("SELECT predict_report('titanic', %s %s interval '7 days')" % (now, minus), (),
         lambda r: r[0][0]["versions"]),
        ("SELECT * FROM predict_report_metrics()", (), lambda r: len(r) >= 17),
        ("SELECT * FROM predict_report_metrics(since => %s %s interval '7 days')" % (now, minus), (),
         lambda r: len(r) >= 17),
        ("SELECT * FROM predict_report_calibration('titanic', NULL::%s, NULL::%s, 5)" % (ts, ts), (),
         lambda r: len(r) >= 1),
        ("SELECT * FROM predict_report_calibration(since => %s %s interval '7 days', bins => 5)" % (now, minus), (),
         lambda r: len(r) >= 1),
        ("SELECT * FROM predict_report_psi()", (), lambda r: len(r) >= 8),
        ("SELECT * FROM predict_report_psi(since => %s %s interval '1 day')" % (now, minus), (),
         lambda r: len(r) >= 8),
        ("SELECT * FROM predict_report_bins()", (), lambda r: len(r) >= 8),
        ("SELECT * FROM predict_report_daily(since => %s %s interval '7 days')" % (now, minus), (),
         lambda r: len(r) >= 1),
        ("SELECT * FROM predict_report_importance(since => %s %s interval '7 days')" % (now, minus), (),
         lambda r: True),
    ]
    return calls


@pytest.mark.parametrize("search_path", ['"$user", public', "public, pg_catalog"])
def test_a_superuser_calls_every_documented_function_and_nothing_of_the_attackers_runs(
        cluster, attacked, search_path):
    mode, db, url = attacked["mode"], attacked["db"], attacked["url"]
    safe_caller = search_path.startswith("public")
    next_id = 2000 if safe_caller else 1000
    since = mark(cluster, db)
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("SET search_path = " + search_path)
    # the gateway's registry commands (managed mode's only way to deploy),
    # with the role's search_path too when it has public first
    env = dict(PREDICT_MODE=mode, **(HOSTILE if safe_caller else {}))
    for args in (("deploy", MODEL), ("deploy", "--name", "titanic", MODEL), ("activate", "titanic", "1"),
                 ("set-default", "titanic")):
        done = gateway_command(url, *args, env=env)
        assert done.returncode == 0, (args, done.stderr)
    wrong = []
    for sql, params, check in documented_calls(mode, safe_caller):
        if params == "insert":
            params = (next_id, json.dumps(OBS))
        elif params == "update":
            params = (next_id,)
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else None
        if check is not None and not check(rows):
            wrong.append((sql, repr(rows)[:200]))
    conn.close()
    assert_untouched(hijacked(cluster, db, since))
    assert wrong == [], wrong


def serve_every_route(cluster, attacked, env, observation_id):
    """A gateway connected as the superuser (the owner) serves every route;
    (what the attacker's objects recorded, wrong answers)."""
    mode, db, url = attacked["mode"], attacked["db"], attacked["url"]
    titanic = expected(MODEL, OBS)
    since = mark(cluster, db)
    proc, port = run_gateway(url, dict(env, PREDICT_MODE=mode))
    wrong = []

    def check(route, ok, answer):
        if not ok:
            wrong.append((route, repr(answer)[:300]))

    try:
        status, body, _ = http(port, "GET", "/healthz")
        check("GET /healthz", status == 200, body)
        status, body, _ = http(port, "GET", "/readyz")
        check("GET /readyz", status == 200, body)
        status, body, _ = http(port, "POST", "/predict", {"id": observation_id, "observation": OBS})
        check("POST /predict", status == 200 and body["proba"] == titanic["proba"]
              and body["predicted_class"] == titanic["predicted_class"], (status, body))
        status, body, _ = http(port, "POST", "/update", {"id": observation_id, "true_class": 0})
        check("POST /update", status == 200 and body["true_class"] == 0, (status, body))
        status, body, _ = http(port, "GET", "/predictions/%d" % observation_id)
        check("GET /predictions/<id>", status == 200 and body["observation"] == OBS and body["true_class"] == 0,
              (status, body))
        status, body, _ = http(port, "GET", "/list-db-contents")
        check("GET /list-db-contents", status == 200 and '"observation_id": %d' % observation_id in json.dumps(body),
              (status, body))
        status, body, _ = http(port, "GET", "/report.json")
        check("GET /report.json", status == 200 and body["model"] == "titanic" and body["versions"], (status, body))
        status, body, _ = http(port, "GET", "/")
        check("GET /", status == 200 and b"titanic" in body, (status, body[:300]))
        status, body, _ = http(port, "GET", "/metrics")
        check("GET /metrics", status == 200, (status, body))
        status, body, _ = http(port, "POST", "/predict", {"id": observation_id + 1, "observation": {"Age": "x"}})
        check("POST /predict (invalid)", status == 422, (status, body))
    finally:
        stop_gateway(proc)
    return hijacked(cluster, db, since), wrong


def test_the_gateway_serves_every_route_and_nothing_of_the_attackers_runs(cluster, attacked):
    evidence, wrong = serve_every_route(cluster, attacked, {}, 3000)
    assert_untouched(evidence)
    assert wrong == [], wrong


@pytest.fixture(scope="module")
def gateway_with_public_first(cluster, attacked):
    """A gateway whose role's search_path has public before pg_catalog (as an
    ALTER ROLE ... SET search_path would give it)."""
    return serve_every_route(cluster, attacked, HOSTILE, 4000)


def test_the_gateway_with_public_first_calls_no_function_or_operator_of_the_attackers(gateway_with_public_first):
    (rows, warnings, _), wrong = gateway_with_public_first
    ran = sorted({w for w in rows + warnings if w.split()[0] != "domain"})
    assert ran == [], ran
    assert wrong == [], wrong


def test_the_gateway_with_public_first_casts_to_no_type_of_the_attackers(gateway_with_public_first):
    (rows, warnings, calls), wrong = gateway_with_public_first
    assert_untouched((rows, warnings, calls))
    assert wrong == [], wrong


# The report calls as the documentation writes them: typed since/until. (An
# untyped or NULL argument is of type unknown, which goes to a string type
# first: an attacker's predict_report(text, text, text) in the same schema
# would take such a call; docs/sql-reference.md, Security, says to type them.)
TYPED_REPORT_CALLS = [
    pytest.param("SELECT jsonb_pretty(predict_report('titanic', timestamptz '2026-11-01', "
                 "timestamptz '2026-12-01'))", id="readme"),
    pytest.param("SELECT * FROM predict_report_calibration('titanic', NULL::timestamptz, NULL::timestamptz, 5)",
                 id="nulls"),
]


@pytest.mark.parametrize("sql", TYPED_REPORT_CALLS)
def test_typed_report_arguments_reach_no_function_of_the_attackers(cluster, attacked, sql):
    db = attacked["db"]
    since = mark(cluster, db)
    conn = cluster.connect(db)
    cur = conn.cursor()
    try:
        cur.execute(sql)
        rows = cur.fetchall()
    except psycopg2.Error as e:
        rows = e
    conn.close()
    assert_untouched(hijacked(cluster, db, since))
    assert not isinstance(rows, Exception) and rows and rows[0][0], rows
