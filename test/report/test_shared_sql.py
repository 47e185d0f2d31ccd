"""The report SQL is one block, the same byte for byte in the extension's
install script and in managed mode's schema (the two cannot include a
common file: PGXS installs sql/predict--1.0.sql as it is, and the gateway
embeds sql/managed.sql)."""

import os
import re

import pytest

from conftest import REPO

FILES = ("sql/predict--1.0.sql", "sql/managed.sql")


def report_block(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as fh:
        text = fh.read()
    assert text.count("-- BEGIN REPORT\n") == 1 and text.count("-- END REPORT\n") == 1, path
    return text[text.index("-- BEGIN REPORT\n"):text.index("-- END REPORT\n")]


def test_the_block_is_the_same_in_both_scripts():
    blocks = [report_block(path) for path in FILES]
    assert blocks[0] == blocks[1], "edit one, then copy it to the other"
    assert len(blocks[0]) > 10000


def test_the_block_names_its_schema_only_as_an_identifier():
    """@extschema@ is replaced by a quoted identifier in both modes (the
    extension's script knows no @extschema_name@): never inside a string."""
    block = report_block(FILES[0])
    assert "@extschema_name@" not in block
    for line in block.splitlines():
        for literal in re.findall(r"'[^']*'", line):
            assert "@extschema@" not in literal, line


@pytest.mark.parametrize("name", ["predict_report", "predict_report_metrics", "predict_report_calibration",
                                  "predict_report_psi", "predict_report_bins", "predict_report_daily"])
def test_every_public_function_is_in_the_block(name):
    assert "FUNCTION @extschema@.%s(" % name in report_block(FILES[0])
