"""Batching (issue 19): on PostgreSQL, /predict requests that wait for the
database together go as one statement and one commit (PREDICT_BATCH,
gateway/group.h). Batches must really form under concurrency, and each
request must get the answer it would get alone: a bad observation, a 409
conflict or an idempotent retry in a batch never fails or changes another
request's answer.

The batches are forced: a transaction of the test's own holds a lock that
stops inserts while the requests arrive, so they queue, and go together when
it ends. Every answer is compared with the one a gateway without batching
(PREDICT_BATCH=1, one worker, the requests one by one) gives on a second
database in the same state."""

import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from harness import REPO, fresh_id, metric, observation

# fields that differ between two databases for the same answer
VOLATILE = ("id", "created_at", "updated_at")
THREADS = 40
HOLD = 0.5                   # seconds the test's lock keeps inserts out


@pytest.fixture
def pair(backend, gateways):
    """A batching gateway and a one-by-one reference, each on a fresh database."""
    if not backend.supports("batching"):
        pytest.skip("SQLite stores each request alone: one writer at a time")
    # the longest database wait: the lock holds every request for HOLD seconds
    batching = gateways(backend.new_database(), threads=THREADS,
                        env={"PREDICT_DB_TIMEOUT_MS": "4000"})
    alone = gateways(backend.new_database(), threads=1, env={"PREDICT_BATCH": "1"})
    return batching, alone


def answer(r):
    try:
        body = r.json
    except ValueError:
        return r.status, r.body
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
    return r.status, json.dumps(body, sort_keys=True)


def post_raw(gw, obs_id, text):
    """POST /predict with the observation as raw JSON text (not re-encoded)."""
    c = gw.client()
    try:
        return c.post("/predict", '{"id": %d, "observation": %s}' % (obs_id, text))
    finally:
        c.close()


def concurrently(gw, backend, requests, hold=HOLD):
    """Send every request at once, each on its own connection, while inserts are
    locked out for `hold` seconds; the answers in the order of requests."""
    answers = [None] * len(requests)

    def send(k):
        answers[k] = post_raw(gw, *requests[k])
    threads = [threading.Thread(target=send, args=(k,)) for k in range(len(requests))]
    with backend.write_locked(gw.database_url):
        for t in threads:
            t.start()
        time.sleep(hold)
    for t in threads:
        t.join()
    return answers


def assert_same(got, want):
    differ = [(k, answer(g), answer(w)) for k, (g, w) in enumerate(zip(got, want))
              if answer(g) != answer(w)]
    assert not differ, "batched answer, alone answer: %s" % differ[:5]


def batch_counters(gw):
    c = gw.client()
    try:
        return (metric(c, "predict_batches_total"),
                metric(c, "predict_batched_requests_total"))
    finally:
        c.close()


def test_batches_form_and_store_what_alone_would(backend, pair):
    batching, alone = pair
    requests = [(i, json.dumps(observation(i))) for i in (fresh_id() for _ in range(30))]
    before = batch_counters(batching)
    got = concurrently(batching, backend, requests)
    batches, carried = (a - b for a, b in zip(batch_counters(batching), before))
    assert batches >= 1 and carried > batches, (batches, carried)
    want = [post_raw(alone, *r) for r in requests]
    assert_same(got, want)
    assert all(r.status == 200 and r.json["observation_id"] == i
               for r, (i, _) in zip(got, requests))
    stored = backend.observation_ids(batching.database_url)
    assert {i for i, _ in requests} <= stored


def test_each_request_keeps_its_own_answer_in_a_batch(backend, pair):
    """Good rows, observations the core or the database refuses, a conflict, an
    idempotent retry, and two requests for one new id, all in one queue."""
    batching, alone = pair
    kept, changed = fresh_id(), fresh_id()
    for gw in (batching, alone):              # stored before, in both databases
        for i in (kept, changed):
            assert post_raw(gw, i, json.dumps(observation(i))).status == 200
    twice, clash = fresh_id(), fresh_id()
    good = [(i, json.dumps(observation(i))) for i in (fresh_id() for _ in range(12))]
    odd = [
        (fresh_id(), '{"Age": "abc", "Sex": "male"}'),           # the core refuses it: 422
        (fresh_id(), '{"Sex": "ma\\u0000le"}'),                  # jsonb refuses it: 422
        (fresh_id(), '{"Age": 1e400}'),
        (fresh_id(), '{"Fare": [1, 2], "Pclass": {"a": 1}}'),
        (kept, json.dumps(observation(kept))),                   # an idempotent retry: 200
        (changed, json.dumps(observation(changed + 1))),         # a conflict: 409
    ]
    pairs = [(twice, json.dumps(observation(twice)))] * 2 + \
            [(clash, json.dumps(observation(clash))), (clash, json.dumps(observation(clash + 1)))]
    requests = good[:6] + odd + good[6:] + pairs
    got = concurrently(batching, backend, requests)
    want = [post_raw(alone, *r) for r in requests]

    n = len(good) + len(odd)
    assert_same(got[:n], want[:n])
    statuses = sorted(r.status for r in got[:n])
    assert statuses.count(409) == 1 and statuses.count(422) >= 2, statuses
    # two requests for one new id: one stores it, the other is its retry
    assert answer(got[n]) == answer(got[n + 1]) == answer(want[n])
    # ... and with two observations, one stores it, the other conflicts
    assert sorted(r.status for r in got[n + 2:]) == [200, 409]

    stored = backend.observation_ids(batching.database_url)
    assert stored == backend.observation_ids(alone.database_url)
    assert backend.count(batching.database_url) == len(stored)


LANES_LINE = re.compile(r"batching: (\d+) lane\(s\) for a database round trip of ([\d.]+) ms")


def lanes_chosen(gw):
    found = LANES_LINE.search(gw.stderr())
    assert found, gw.stderr()[-2000:]
    lanes, round_trip = int(found.group(1)), float(found.group(2))
    # one lane, and one more for each millisecond of round trip (rounded; the
    # log shows it to 0.01 ms), at most 4
    assert 1 <= lanes <= 4 and (abs(lanes - 1 - round_trip) <= 0.505 or
                                (lanes == 4 and round_trip >= 3.495)), (lanes, round_trip)
    return lanes, round_trip


def test_lanes_follow_the_round_trip(backend, gateways):
    """PREDICT_BATCH_LANES=auto, the default: the gateway measures its round
    trip to the database at start-up and runs one batch at a time on the
    same machine, more behind a link of 1 ms round trip (the benchmark's
    relay, bench/latency-proxy.c)."""
    if not backend.supports("batching"):
        pytest.skip("SQLite stores each request alone: one writer at a time")
    url = backend.new_database()
    direct = lanes_chosen(gateways(url))
    subprocess.run(["make", "-s", "build/bench/latency-proxy"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    proxy = subprocess.Popen([os.path.join(REPO, "build", "bench", "latency-proxy"), "0",
                              re.search(r":(\d+)/", url).group(1), "500"],
                             stdout=subprocess.PIPE, text=True)
    try:
        port = proxy.stdout.readline().split()[1]
        gw = gateways(re.sub(r":\d+/", ":%s/" % port, url, count=1))
        linked = lanes_chosen(gw)
        assert gw.stop() == 0, gw.stderr()[-2000:]      # before its link goes
    finally:
        proxy.kill()
        proxy.wait()
    assert linked[1] >= direct[1] + 0.8 and linked[0] >= 2, (direct, linked)


def test_a_client_that_leaves_while_its_batch_waits(backend, pair):
    """A request whose client closes its connection while the request waits in
    the queue is still stored (it reached the database's queue), and logged and
    counted as a 200 like every other stored row: the access log's 200s, the
    rows-written counter and the rows stored agree."""
    batching, _ = pair
    ids = [fresh_id() for _ in range(12)]
    c = batching.client()
    written = metric(c, "predict_predictions_written_total")
    c.close()
    with backend.write_locked(batching.database_url):
        socks = []
        for i in ids:
            body = json.dumps({"id": i, "observation": observation(i)}).encode()
            s = socket.create_connection(("127.0.0.1", batching.port))
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            socks.append(s)
        time.sleep(HOLD)        # every request is in, waiting for the lock
        for s in socks:         # the clients leave before any answer, as a load
            # generator's do at its deadline: a reset, not a polite close
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        time.sleep(0.2)
    deadline = time.time() + 10
    while time.time() < deadline:
        logged = {int(line["observation_id"]) for line in batching.access_log()
                  if line.get("observation_id", "").isdigit() and line.get("status") == "200"}
        if set(ids) <= logged:
            break
        time.sleep(0.1)
    assert set(ids) <= logged, sorted(set(ids) - logged)
    assert set(ids) <= backend.observation_ids(batching.database_url)
    c = batching.client()
    assert metric(c, "predict_predictions_written_total") - written == len(ids)
    c.close()
