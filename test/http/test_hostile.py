"""The hostile-request corpus (test/hostile/corpus, written by
test/hostile/make_corpus.py): each of its requests, sent on its own
connection to a gateway with an API token, gets its documented answer (a
4xx status, or a closed connection for transport abuse); afterwards the
process is up, its memory is bounded, and no row was written."""

import json
import os
import re
import socket
import threading
import time

import pytest

from harness import REPO, Gateway, observation

CORPUS = os.path.join(REPO, "test", "hostile", "corpus")
TOKEN = "hostile-test-token"
MAX_BODY = 1 << 20           # so that 100,000 levels of nesting reach the JSON parser
IDLE_TIMEOUT = 3             # seconds: stalled clients are closed quickly


def load_cases():
    cases = []
    with open(os.path.join(CORPUS, "EXPECTED")) as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            name, outcome, why = line.rstrip("\n").split("\t")
            req = os.path.join(CORPUS, name + ".req")
            gen = os.path.join(CORPUS, name + ".gen")
            if os.path.exists(req):
                with open(req, "rb") as f:
                    cases.append((name, outcome, why, f.read(), None))
            else:
                with open(gen) as f:
                    cases.append((name, outcome, why, None, json.load(f)))
    return cases


CASES = load_cases()


REQUEST_LINE = re.compile(rb"((?:GET|HEAD|POST|PUT|DELETE|PATCH) /\S* HTTP/1\.[01]\r\n)")


def with_token(raw, name):
    """Add the bearer token after every request line, except for the auth cases."""
    if "auth-" in name:
        return raw
    return REQUEST_LINE.sub(lambda m: m.group(1) + b"Authorization: Bearer " + TOKEN.encode() + b"\r\n", raw)


def read_statuses(sock, count, deadline):
    """Up to count response statuses from sock, then whether it was closed."""
    data = b""
    statuses = []
    closed = False
    sock.settimeout(0.5)
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            if len(statuses) >= count:
                break
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        statuses = [int(part.split(b" ", 2)[1]) for part in data.split(b"HTTP/1.")[1:]
                    if len(part.split(b" ", 2)) > 1 and part.split(b" ", 2)[1].isdigit()]
        if len(statuses) >= count and b"Connection: close" not in data:
            break
    return statuses, closed


def send_all(sock, data):
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def run_generated(port, name, gen):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    auth = "Authorization: Bearer %s\r\n" % TOKEN
    deadline = time.time() + gen.get("seconds", 10) + 10
    try:
        if "depth" in gen:
            body = (gen["prefix"] + gen["open"] * gen["depth"] + gen.get("inner", "")
                    + gen["close"] * gen["depth"] + gen["suffix"]).encode()
            send_all(sock, ("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
                            % (gen["path"], auth, len(body))).encode() + body)
        elif "header_count" in gen:
            send_all(sock, (gen["raw_prefix"] + auth + "".join("X-H%d: v\r\n" % i for i in range(gen["header_count"]))
                            + "\r\n").encode())
        elif "header_bytes" in gen:
            send_all(sock, (gen["raw_prefix"] + auth + "X-Big: " + "a" * gen["header_bytes"] + "\r\n\r\n").encode())
        elif "body_bytes" in gen:
            send_all(sock, ("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
                            % (gen["path"], auth, gen["body_bytes"])).encode())
            chunk = b"[" * 65536
            for _ in range(gen["body_bytes"] // 65536):
                send_all(sock, chunk)
        elif "chunked_bytes" in gen:
            send_all(sock, ("POST %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n"
                            % (gen["path"], auth)).encode())
            for _ in range(gen["chunked_bytes"] // 65536):
                send_all(sock, b"10000\r\n" + b"[" * 65536 + b"\r\n")
            send_all(sock, b"0\r\n\r\n")
        elif gen.get("endless_chunks"):
            send_all(sock, ("POST %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n"
                            % (gen["path"], auth)).encode())
            end = time.time() + gen["seconds"]
            while time.time() < end:
                try:
                    sock.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
                except OSError:
                    break
                time.sleep(0.005)
        elif "slowloris" in gen:
            text = gen["slowloris"].encode()
            end = time.time() + gen["seconds"]
            for i in range(len(text)):
                if time.time() > end:
                    break
                try:
                    sock.sendall(text[i:i + 1])
                except OSError:
                    break
                time.sleep(gen["interval"])
        elif "raw_prefix_only" in gen:
            line, rest = gen["raw_prefix_only"].split("\r\n", 1)
            send_all(sock, (line + "\r\n" + auth + rest).encode())
        return read_statuses(sock, 1, deadline)
    finally:
        sock.close()


def run_case(port, name, raw, gen):
    if gen is not None:
        return run_generated(port, name, gen)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        send_all(sock, with_token(raw, name))
        expected = 3 if name.startswith("pipelined") or "-pipelined" in name else 1
        return read_statuses(sock, expected, time.time() + 10)
    finally:
        sock.close()


def judge(outcome, statuses, closed):
    if outcome == "close":
        return closed
    if outcome == "4xx":
        return closed if not statuses else 400 <= statuses[0] < 500
    if outcome.startswith("pipeline:"):
        return statuses[:3] == [int(s) for s in outcome.split(":")[1].split(",")]
    return bool(statuses) and statuses[0] == int(outcome)


@pytest.fixture(scope="module")
def hostile_gateway(backend):
    url = backend.new_database()
    gw = Gateway(url, threads=4, env={"PREDICT_API_TOKEN": TOKEN, "PREDICT_MAX_BODY": str(MAX_BODY),
                                      "PREDICT_IDLE_TIMEOUT": str(IDLE_TIMEOUT)})
    yield gw, url
    rc = gw.stop()
    assert rc == 0, "gateway exit status %s; stderr:\n%s" % (rc, gw.stderr()[-3000:])


def test_corpus_is_large_enough():
    assert len(CASES) >= 150


def test_every_hostile_request_gets_its_documented_answer(hostile_gateway, backend):
    gw, url = hostile_gateway
    before = backend.count(url)
    results = {}

    def run(case):
        name, outcome, why, raw, gen = case
        statuses, closed = run_case(gw.port, name, raw, gen)
        results[name] = (outcome, why, statuses, closed)

    # the slow cases (seconds of trickling) run alongside the others
    slow = [c for c in CASES if c[4] is not None and "seconds" in c[4]]
    threads = [threading.Thread(target=run, args=(c,)) for c in slow]
    for t in threads:
        t.start()
    for case in CASES:
        if case not in slow:
            run(case)
    for t in threads:
        t.join()

    wrong = ["%s: expected %s (%s), got statuses %s%s" % (name, outcome, why, statuses,
                                                           " then closed" if closed else "")
             for name, (outcome, why, statuses, closed) in sorted(results.items())
             if not judge(outcome, statuses, closed)]
    assert not wrong, "%d of %d hostile requests answered wrongly:\n  %s" % (
        len(wrong), len(CASES), "\n  ".join(wrong))
    # the process is up and serves, nothing was written, memory stayed bounded
    c = gw.client(token=TOKEN)
    assert c.get("/healthz").status == 200
    assert backend.count(url) == before
    assert gw.proc.poll() is None
    assert gw.rss_kib() < 64 * 1024, "RSS %d KiB after the corpus" % gw.rss_kib()
    # and a good request still works
    r = c.predict(777000001, observation(1))
    assert r.status == 200, r
    c.close()
