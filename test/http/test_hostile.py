"""The hostile-request corpus (test/hostile/corpus, written by
test/hostile/make_corpus.py): each of its requests, sent on its own
connection to a gateway with an API token, gets its documented answer (a
4xx status, or a closed connection for transport abuse); afterwards the
process is up, its memory is bounded, and no row was written.

Slowloris: requests trickled one byte a second (sooner than the idle
timeout) are closed by the request timeout, each within REQUEST_TIMEOUT + 2 s,
and 50 of them at once do not stop the gateway from serving."""

import json
import os
import re
import select
import socket
import threading
import time

import pytest

from harness import REPO, Gateway, fresh_id, metric, observation

CORPUS = os.path.join(REPO, "test", "hostile", "corpus")
TOKEN = "hostile-test-token"
MAX_BODY = 1 << 20           # so that 100,000 levels of nesting reach the JSON parser
IDLE_TIMEOUT = 5             # seconds: stalled clients are closed quickly
REQUEST_TIMEOUT = 3          # seconds: a request trickled slower than this is cut
SLACK = 2                    # seconds: how late after the request timeout a cut may come


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
        statuses = parse_statuses(data)
        if len(statuses) >= count and b"Connection: close" not in data:
            break
    return statuses, closed


def trickle(sock, data, interval, seconds):
    """Send data one byte every interval seconds, watching for the server's close,
    for at most seconds; (statuses read, whether closed, seconds from the first byte to
    the close or None)."""
    t0 = time.monotonic()
    received = b""
    for i in range(len(data)):
        if time.monotonic() - t0 > seconds:
            break
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return parse_statuses(received), True, time.monotonic() - t0
        until = time.monotonic() + interval
        while True:
            left = until - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([sock], [], [], left)
            if not readable:
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return parse_statuses(received), True, time.monotonic() - t0
            received += chunk
    return parse_statuses(received), False, None


def parse_statuses(data):
    return [int(part.split(b" ", 2)[1]) for part in data.split(b"HTTP/1.")[1:]
            if len(part.split(b" ", 2)) > 1 and part.split(b" ", 2)[1].isdigit()]


def send_all(sock, data):
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def run_generated(port, name, gen):
    """(statuses, closed, seconds from the first trickled byte to the close or None)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    auth = "Authorization: Bearer %s\r\n" % TOKEN
    deadline = time.time() + gen.get("seconds", 10) + 10
    try:
        if "slowloris" in gen:
            first = []
            if "first" in gen:           # a good request first, answered, on the same connection
                send_all(sock, gen["first"].encode())
                first, closed = read_statuses(sock, 1, time.time() + 10)
                if closed:
                    return first, closed, None
            if "headers" in gen:         # sent at once, with the token
                line, rest = gen["headers"].split("\r\n", 1)
                send_all(sock, (line + "\r\n" + auth + rest).encode())
            statuses, closed, after = trickle(sock, gen["slowloris"].encode(), gen["interval"],
                                              gen["seconds"])
            if not closed:
                statuses, closed = read_statuses(sock, 1, deadline)
            return first + statuses, closed, after
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
        elif "raw_prefix_only" in gen:
            line, rest = gen["raw_prefix_only"].split("\r\n", 1)
            send_all(sock, (line + "\r\n" + auth + rest).encode())
        return read_statuses(sock, 1, deadline) + (None,)
    finally:
        sock.close()


def run_case(port, name, raw, gen):
    if gen is not None:
        return run_generated(port, name, gen)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        send_all(sock, with_token(raw, name))
        expected = 3 if name.startswith("pipelined") or "-pipelined" in name else 1
        return read_statuses(sock, expected, time.time() + 10) + (None,)
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
                                      "PREDICT_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
                                      "PREDICT_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)})
    yield gw, url
    rc = gw.stop()
    assert rc == 0, "gateway exit status %s; stderr:\n%s" % (rc, gw.stderr()[-3000:])


def test_corpus_is_large_enough():
    assert len(CASES) >= 150


def test_every_hostile_request_gets_its_documented_answer(hostile_gateway, backend):
    gw, url = hostile_gateway
    before = backend.count(url)
    results = {}
    cut_after = {}

    def run(case):
        name, outcome, why, raw, gen = case
        statuses, closed, after = run_case(gw.port, name, raw, gen)
        results[name] = (outcome, why, statuses, closed)
        if gen is not None and gen.get("deadline"):
            # (a case with a good request first must have had its answer)
            cut_after[name] = after if "first" not in gen or statuses[:1] == [200] else None

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
    # the slowloris cases were cut by the request timeout, not before, not much after
    late = ["%s: closed after %s s" % (name, "never" if after is None else "%.2f" % after)
            for name, after in sorted(cut_after.items())
            if after is None or not REQUEST_TIMEOUT - 0.5 <= after <= REQUEST_TIMEOUT + SLACK]
    assert len(cut_after) >= 5 and not late, late
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


def test_slowloris_flood_is_cut_while_good_requests_are_served(hostile_gateway, backend):
    """50 connections trickling a byte a second (30 in the headers, 20 in the body)
    are each closed within REQUEST_TIMEOUT + SLACK of their start, while requests on
    fresh connections are answered promptly all along."""
    gw, url = hostile_gateway
    c = gw.client(token=TOKEN)
    timed_out_before = metric(c, "predict_http_requests_timed_out_total")
    auth = ("Authorization: Bearer %s\r\n" % TOKEN).encode()
    slow = []                     # [socket, started, bytes to trickle, closed after]
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        if i < 30:
            data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100
        else:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 500\r\n\r\n")
            data = b'{"id": 1, "observation": {"Sex": "' + b"m" * 100
        slow.append([s, time.monotonic(), data, None])

    def drive():
        """One byte a second on every slow connection still open; note when each closes."""
        end = time.monotonic() + REQUEST_TIMEOUT + SLACK + 5
        sent = 0
        next_byte = time.monotonic()
        while time.monotonic() < end and any(entry[3] is None for entry in slow):
            if time.monotonic() >= next_byte:
                for entry in slow:
                    if entry[3] is None and sent < len(entry[2]):
                        try:
                            entry[0].sendall(entry[2][sent:sent + 1])
                        except OSError:
                            entry[3] = time.monotonic() - entry[1]
                sent += 1
                next_byte += 1.0
            open_socks = [entry[0] for entry in slow if entry[3] is None]
            readable, _, _ = select.select(open_socks, [], [], 0.05)
            for entry in slow:
                if entry[0] in readable and entry[3] is None:
                    try:
                        data = entry[0].recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        entry[3] = time.monotonic() - entry[1]

    driver = threading.Thread(target=drive)
    driver.start()
    latencies = []
    statuses = []
    try:
        while driver.is_alive():
            fresh = gw.client(token=TOKEN, timeout=5)
            t0 = time.monotonic()
            r = fresh.predict(fresh_id())
            latencies.append(time.monotonic() - t0)
            statuses.append(r.status)
            fresh.close()
            time.sleep(0.1)
    finally:
        driver.join()
        for entry in slow:
            entry[0].close()
    closed_after = sorted(entry[3] for entry in slow if entry[3] is not None)
    assert len(closed_after) == 50, "%d of 50 slow connections still open" % (50 - len(closed_after))
    assert REQUEST_TIMEOUT - 0.5 <= closed_after[0] and closed_after[-1] <= REQUEST_TIMEOUT + SLACK, \
        closed_after
    assert len(statuses) >= 10 and set(statuses) == {200}, statuses
    assert max(latencies) < 2.0, max(latencies)
    assert metric(c, "predict_http_requests_timed_out_total") - timed_out_before >= 50
    assert "request timeout: closed" in gw.stderr()
    # and afterwards a request on a fresh connection is served
    fresh = gw.client(token=TOKEN)
    assert fresh.predict(fresh_id()).status == 200
    fresh.close()
    c.close()

