"""Every file Heroku reads, checked for the fields Heroku requires (issue 6):
the Procfile's process type, app.json's stack, add-ons and env, heroku.yml's
build and run, and the Dockerfile: that its build step works from exactly the
paths it copies, on a system without PostgreSQL's server headers, and that
the runtime packages it installs provide every library the binary needs."""

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(name):
    with open(os.path.join(REPO, name)) as fh:
        return fh.read()


def procfile():
    processes = {}
    for line in read("Procfile").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, _, command = line.partition(":")
            assert re.fullmatch(r"[a-z][a-z0-9_-]*", kind), "bad process type %r" % kind
            processes[kind] = command.strip()
    return processes


def test_procfile_has_a_web_process_running_the_gateway():
    processes = procfile()
    assert list(processes) == ["web"]
    assert processes["web"].split()[0] == "bin/predict-gateway"
    # Heroku passes PORT and DATABASE_URL in the environment: no flag may override them
    assert "--port" not in processes["web"] and "--database-url" not in processes["web"]


def test_app_json_declares_the_container_stack_postgres_and_tls():
    app = json.loads(read("app.json"))
    assert app["name"] and app["description"]
    assert app["stack"] == "container"
    plans = [a["plan"] if isinstance(a, dict) else a for a in app["addons"]]
    assert any(p.startswith("heroku-postgresql") for p in plans)
    env = app["env"]
    assert env["PGSSLMODE"]["value"] == "require"          # Heroku Postgres requires TLS
    assert env["PREDICT_MODE"]["value"] in ("auto", "managed")
    assert os.path.isfile(os.path.join(REPO, env["PREDICT_MODEL"]["value"]))
    assert env["PREDICT_API_TOKEN"]["generator"] == "secret"
    assert "web" in app["formation"]


def test_heroku_yml_builds_the_dockerfile_and_runs_the_procfile_command():
    spec = yaml.safe_load(read("heroku.yml"))
    assert spec["build"]["docker"]["web"] == "Dockerfile"
    assert os.path.isfile(os.path.join(REPO, spec["build"]["docker"]["web"]))
    assert spec["run"]["web"] == procfile()["web"]


def dockerfile_stages():
    stages, current = [], None
    for line in re.sub(r"\\\n\s*", " ", read("Dockerfile")).splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "FROM":
            current = {"from": words[1], "run": [], "copy": [], "cmd": None, "user": None}
            stages.append(current)
        elif words[0] == "RUN":
            current["run"].append(line[4:])
        elif words[0] == "COPY":
            current["copy"].append(words[1:])
        elif words[0] == "CMD":
            current["cmd"] = json.loads(line[4:])
        elif words[0] == "USER":
            current["user"] = words[1]
    return stages


def apt_packages(run_lines):
    packages = []
    for line in run_lines:
        for part in line.split("&&"):
            words = part.split()
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


def test_dockerfile_is_debian_slim_and_runs_the_gateway_unprivileged():
    build, runtime = dockerfile_stages()
    assert build["from"].startswith("debian:12-slim") and runtime["from"] == "debian:12-slim"
    assert runtime["cmd"] == procfile()["web"].split()
    assert runtime["user"] not in (None, "root", "0")
    for package in apt_packages(build["run"]) + apt_packages(runtime["run"]):
        assert subprocess.run(["apt-cache", "show", package], capture_output=True).returncode == 0, \
            "%s is not a Debian 12 package" % package


def test_dockerfile_build_step_works_from_the_copied_paths_without_server_headers(tmp_path):
    build, runtime = dockerfile_stages()
    context = tmp_path / "src"
    context.mkdir()
    for args in build["copy"]:
        *sources, dest = args
        for source in sources:
            target = context / (dest if dest not in ("./", ".") else source)
            src = os.path.join(REPO, source)
            if os.path.isdir(src):
                shutil.copytree(src, target)
            else:
                shutil.copy(src, context / os.path.basename(source))
    step = [r for r in build["run"] if r.startswith("make")][0].split()
    # PGXS=/nonexistent: as in the image, where only libpq-dev is installed
    proc = subprocess.run(step + ["PGXS=/nonexistent"], cwd=context, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    binary = context / "bin" / "predict-gateway"
    assert subprocess.run([str(binary), "--help"], capture_output=True).returncode == 0
    # every shared library it needs comes from a package the runtime stage installs
    runtime_packages = set(apt_packages(runtime["run"]))
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if not m or m.group(1).startswith(("libc.so", "libm.so", "ld-linux", "libpthread")):
            continue
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(m.group(2))], capture_output=True, text=True)
        package = owner.stdout.split(":")[0]
        direct = {"libpq.so.5": "libpq5", "libcjson.so.1": "libcjson1",
                  "libmicrohttpd.so.12": "libmicrohttpd12", "libsqlite3.so.0": "libsqlite3-0"}
        if m.group(1) in direct:
            assert direct[m.group(1)] in runtime_packages and package.startswith(direct[m.group(1)]), line
    # the whole models/ directory: heroku.md deploys a file committed there from the dyno
    assert ["models", "models"] in runtime["copy"], runtime["copy"]


def test_heroku_md_and_app_json_agree_on_the_api_token():
    """app.json generates a token: heroku.md's steps set one too, read it, and send it."""
    app = json.loads(read("app.json"))
    assert app["env"]["PREDICT_API_TOKEN"]["generator"] == "secret"
    steps = read(os.path.join("docs", "heroku.md"))
    assert re.search(r"^ +heroku config:set PREDICT_API_TOKEN=[^#\n]+$", steps, re.M), "not set"
    assert "TOKEN=$(heroku config:get PREDICT_API_TOKEN)" in steps
    curls = re.findall(r"curl [^\n]*herokuapp\.com/(?:predict|update)[^\n]*", steps)
    assert curls and all('-H "Authorization: Bearer $TOKEN"' in c for c in curls), curls
