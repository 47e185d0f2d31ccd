"""The suite's own check (both-builds): two CLIs that answer differently are caught."""

import os
import subprocess

BOTH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "both-builds")


def _run(tmp_path, plain, sanitized, stdin="x\n"):
    log = tmp_path / "disagreements"
    env = dict(os.environ, PREDICT_SCORE_PLAIN=plain, PREDICT_SCORE_SANITIZED=sanitized,
               PARITY_DISAGREEMENTS=str(log))
    proc = subprocess.run([BOTH, "--model", "m.json", "-"], input=stdin, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, (log.read_text() if log.exists() else "")


def _script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_agreement_passes_the_plain_answer_through(tmp_path):
    echo = _script(tmp_path, "echo", 'cat; echo "args $*"; echo warn >&2; exit 1')
    proc, log = _run(tmp_path, echo, echo)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "x\nargs --model m.json -\n", "warn\n")
    assert log == ""


def test_a_different_answer_a_report_or_a_status_is_caught(tmp_path):
    plain = _script(tmp_path, "plain", 'echo \'{"proba": 0.5}\'')
    for body in ['echo \'{"proba": 0.50000000000000011}\'',
                 'echo \'{"proba": 0.5}\'; echo "runtime error: signed integer overflow" >&2',
                 'echo \'{"proba": 0.5}\'; exit 23']:
        other = _script(tmp_path, "sanitized", body)
        proc, log = _run(tmp_path, plain, other)
        assert proc.returncode == 99, body
        assert "the builds disagree" in log and log.count("disagree") == 1, log
        (tmp_path / "disagreements").unlink()
