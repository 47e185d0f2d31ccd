"""A LATIN1 database: models and observations in the database encoding are
converted to the UTF-8 the core reads, so non-ASCII column names and
categories match, and messages come back intact.
"""

import json
import math
import uuid

import pytest

from conftest import TINY_MODEL, connect, read


@pytest.fixture(scope="module")
def latin1():
    name = "predict_latin1_%s" % uuid.uuid4().hex[:8]
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
                    " TEMPLATE template0" % name)
    admin.close()
    conn = connect(name)
    conn.set_client_encoding("UTF8")
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION predict")
        cur.execute("SHOW server_encoding")
        assert cur.fetchone()[0] == "LATIN1"
    yield conn
    conn.close()
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE %s WITH (FORCE)" % name)
    admin.close()


def sigmoid(d):
    return 1.0 / (1.0 + math.exp(-d))


def test_non_ascii_names_and_categories(latin1):
    doc = json.loads(read(TINY_MODEL))
    doc["columns"][1]["name"] = "Café"
    doc["preprocessing"][1]["column"] = "Café"
    doc["preprocessing"][1]["steps"][1]["categories"] = ["é", "b", "missing"]
    cur = latin1.cursor()
    cur.execute("SELECT predict_deploy('enc', %s::jsonb)", (json.dumps(doc, ensure_ascii=False),))
    cur.execute("SELECT predict_proba(%s::jsonb)", (json.dumps({"Café": "é"}, ensure_ascii=False),))
    assert cur.fetchone()[0] == sigmoid(2.0)
    cur.execute("SELECT predict_proba(%s::jsonb)", (json.dumps({"Café": "b", "x": 1}),))
    assert cur.fetchone()[0] == sigmoid(-1.0)
    # the trigger reads the same way
    cur.execute("INSERT INTO predictions (observation_id, observation) VALUES (1, %s::jsonb)"
                " RETURNING proba", (json.dumps({"Café": "é"}, ensure_ascii=False),))
    assert cur.fetchone()[0] == sigmoid(2.0)


def test_messages_survive_the_conversion(latin1):
    cur = latin1.cursor()
    with pytest.raises(Exception) as caught:
        cur.execute("SELECT predict_proba(%s::jsonb, 'enc')", (json.dumps({"Café": "ü"}, ensure_ascii=False),))
    assert caught.value.pgcode == "22023"
    assert caught.value.diag.message_primary == \
        'column "Café": unknown category "ü" (the encoder\'s handle_unknown is "error")'
