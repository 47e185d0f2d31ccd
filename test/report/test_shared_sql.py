"""The SQL of both PostgreSQL modes is put together from the parts in
sql/schema/ (mk/pg.mk, mk/gateway.mk): the tables and the reports are one
file each, used by the extension's install and upgrade scripts and by
managed mode's new schema and migration."""

import os
import re

import pytest

from conftest import REPO

PARTS = os.path.join(REPO, "sql", "schema")
BUILT = {
    "build/sql/predict--1.1.sql": ["extension-header", "extension-schema", "tables", "extension", "report",
                                   "extension-backup", "extension-grants"],
    "build/sql/predict--1.0--1.1.sql": ["extension-header", "extension-schema", "extension--1.0--1.1", "extension",
                                        "report", "extension-backup", "extension-grants"],
    "build/gateway/managed.sql": ["managed-schema", "tables", "managed", "managed-constraints", "report"],
    "build/gateway/managed--1.0--1.1.sql": ["managed-schema", "managed--1.0--1.1", "managed", "report"],
}


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


@pytest.mark.parametrize("built", sorted(BUILT))
def test_each_script_is_its_parts_in_order(built):
    text = read(os.path.join(REPO, built))
    parts = "".join(read(os.path.join(PARTS, name + ".sql")) for name in BUILT[built])
    if built.startswith("build/sql/"):
        first, text = text.split("\n", 1)
        assert first.startswith("/* " + os.path.basename(built) + ":"), first
    assert text == parts, "make %s" % built


def test_every_part_is_used():
    used = {name for names in BUILT.values() for name in names}
    assert {f[:-4] for f in os.listdir(PARTS) if f.endswith(".sql")} == used


def test_report_names_its_schema_only_as_an_identifier():
    """@extschema@ is replaced by a quoted identifier in both modes (the
    extension's scripts know no @extschema_name@): never inside a string."""
    block = read(os.path.join(PARTS, "report.sql"))
    assert "@extschema_name@" not in block
    for line in block.splitlines():
        for literal in re.findall(r"'[^']*'", line):
            assert "@extschema@" not in literal, line


@pytest.mark.parametrize("name", ["predict_report", "predict_report_metrics", "predict_report_calibration",
                                  "predict_report_psi", "predict_report_bins", "predict_report_daily"])
def test_every_public_report_function_is_in_the_shared_part(name):
    assert "FUNCTION @extschema@.%s(" % name in read(os.path.join(PARTS, "report.sql"))
