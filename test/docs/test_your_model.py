"""docs/your-model.md, run as a user would: its shell blocks in order, in one
bash session, with HOME a fresh directory (the page works in ~/my-model) and
the clone as the working directory. The block that serves (make run) runs in
the background until the page's last command; the package installation is
the one block not run. The Titanic CSV is the real one when it is there,
else the synthetic stand-in (test/titanic_data.py)."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

from titanic_data import load_titanic  # noqa: E402

PAGE = os.path.join(REPO, "docs", "your-model.md")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shell_blocks():
    return re.findall(r"```sh\n(.*?)```", open(PAGE).read(), re.S)


def session(port):
    """The page's blocks as one bash script: the serving block in the background (its own
    process group), waited for until it answers, stopped with SIGTERM at the end."""
    lines = ["set -euo pipefail"]
    serving = 0
    for block in shell_blocks():
        block = block.replace("localhost:5000", "localhost:%d" % port)
        if "apt-get install" in block:
            continue
        if re.search(r"\bmake run\b", block):
            serving += 1
            lines += ["setsid bash -c %s > \"$HOME/serve.log\" 2>&1 &" % shlex_quote(block),
                      "server=$!",
                      "for i in $(seq 600); do curl -sf http://127.0.0.1:%d/readyz >/dev/null && break;"
                      " kill -0 $server || { cat \"$HOME/serve.log\"; exit 1; }; sleep 0.1; done" % port]
        else:
            lines.append(block)
    assert serving == 1
    lines.append("kill -TERM -- -$server; wait $server || true")
    return "\n".join(lines) + "\n"


def shlex_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def test_the_page_runs_as_written(tmp_path):
    home = tmp_path / "home"
    (home / "my-model").mkdir(parents=True)
    frame = load_titanic()
    frame.to_csv(home / "my-model" / "titanic.csv", index=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "HOST") and not k.startswith(("PREDICT_", "MAKE"))}
    env.update({"HOME": str(home), "PORT": str(port)})
    proc = subprocess.run(["bash", "-c", session(port)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, start_new_session=True)
    out = proc.stdout + proc.stderr
    served = (home / "serve.log").read_text() if (home / "serve.log").exists() else ""
    assert proc.returncode == 0, out[-4000:] + served[-2000:]
    # trained, exported with the verification and the reference, on every row
    assert "trained on %d rows" % len(frame) in out, out
    verified = re.findall(r"verify: (\d+) rows, (\d+) scored by both, max \|difference\| (\S+), (\d+) mismatches",
                          out)
    assert len(verified) == 2, out
    for rows, scored, diff, mismatches in verified:
        assert int(rows) == len(frame) and int(scored) == len(frame) and float(diff) <= 1e-12
        assert mismatches == "0"
    # served as the default, the outcomes logged, the report with metrics and drift
    assert 'serving the default model \\"survival\\" (version 1)' in served, served[-2000:]
    assert "sent 300 predictions and their outcomes" in out, out
    auc = float(re.search(r"ROC AUC (\S+)", out).group(1))
    assert 0.5 < auc <= 1, out
    readings = re.search(r"ROC AUC \S+\n(\[.*\])", out).group(1)
    assert "None" not in readings and "'unknown'" not in readings and "'(probability)'" in readings, readings
    # the new version: 2
    assert re.search(r"^2$", proc.stdout, re.M), out
    assert 'msg="stopped"' in served
    # nothing outside ~/my-model was written in the clone
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                            capture_output=True, text=True).stdout
    assert "my-model" not in status and "predictions.db" not in status, status
