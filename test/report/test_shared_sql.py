"""The report SQL is one block, in the extension's install script
(sql/predict--1.0.sql, which PGXS installs as it is); mk/gateway.mk appends
that block to sql/managed.sql to make managed mode's schema
(build/gateway/managed.sql, embedded in the gateway)."""

import os
import re

import pytest

from conftest import REPO

EXTENSION = os.path.join(REPO, "sql", "predict--1.0.sql")
MANAGED_SOURCE = os.path.join(REPO, "sql", "managed.sql")
MANAGED_BUILT = os.path.join(REPO, "build", "gateway", "managed.sql")


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def report_block(text, path):
    assert text.count("-- BEGIN REPORT\n") == 1 and text.count("-- END REPORT\n") == 1, path
    return text[text.index("-- BEGIN REPORT\n"):text.index("-- END REPORT\n") + len("-- END REPORT\n")]


def test_managed_mode_runs_the_extensions_block():
    block = report_block(read(EXTENSION), EXTENSION)
    assert len(block) > 10000
    assert "\n-- BEGIN REPORT\n" not in read(MANAGED_SOURCE), "one copy: the block lives in the extension's script"
    built = read(MANAGED_BUILT)
    assert built == read(MANAGED_SOURCE) + block, "make build/gateway/managed.sql"


def test_the_block_names_its_schema_only_as_an_identifier():
    """@extschema@ is replaced by a quoted identifier in both modes (the
    extension's script knows no @extschema_name@): never inside a string."""
    block = report_block(read(EXTENSION), EXTENSION)
    assert "@extschema_name@" not in block
    for line in block.splitlines():
        for literal in re.findall(r"'[^']*'", line):
            assert "@extschema@" not in literal, line


@pytest.mark.parametrize("name", ["predict_report", "predict_report_metrics", "predict_report_calibration",
                                  "predict_report_psi", "predict_report_bins", "predict_report_daily"])
def test_every_public_function_is_in_the_block(name):
    assert "FUNCTION @extschema@.%s(" % name in report_block(read(EXTENSION), EXTENSION)
