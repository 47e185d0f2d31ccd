#!/usr/bin/env python3
"""Write the hostile-request corpus: test/hostile/corpus/NNN-name.req (raw
HTTP/1.1 request bytes) or NNN-name.gen (a JSON spec for requests too big or
too slow to keep as bytes: huge bodies, deep nesting, floods, slowloris: a
request trickled one byte a second, which only the gateway's request timeout
closes),
and test/hostile/corpus/EXPECTED (name, expected outcome, why).

Outcomes: a status code (the documented one, docs/http-api.md), "close"
(the server closes the connection without a response, or with one after
which it closes), or "4xx" (any client error: for transport abuse where the
server may answer 400 or close). Every case must also leave the process up,
its memory bounded, and the predictions table without a new row.

Run it again after changing the cases; the files are committed."""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

GOOD_OBS = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}
cases = []


def add(name, outcome, why, raw=None, gen=None):
    cases.append((name, outcome, why, raw, gen))


def post(path, body, headers=(), ctype="application/json", version="HTTP/1.1"):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    lines = ["POST %s %s" % (path, version), "Host: 127.0.0.1"]
    if ctype:
        lines.append("Content-Type: %s" % ctype)
    lines += list(headers)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(path, headers=(), method="GET", version="HTTP/1.1"):
    return ("\r\n".join(["%s %s %s" % (method, path, version), "Host: 127.0.0.1"] + list(headers))
            + "\r\n\r\n").encode()


def predict(body, outcome, why, name):
    add(name, outcome, why, post("/predict", body))


# --- not JSON at all: 400 ---
for i, body in enumerate([
        "", " ", "\n", "{", "}", "[", "{\"id\": 1", "{\"id\": 1, \"observation\": {}", "nul", "tru",
        "{\"id\" 1}", "{\"id\": 1,, \"observation\": {}}", "{'id': 1, 'observation': {}}",
        "{\"id\": 1, \"observation\": {}} x", "{\"id\": 1, \"observation\": {},}",
        "{\"id\": 1, /* c */ \"observation\": {}}", "{\"id\": 01, \"observation\": {}}",
        "{\"id\": 1, \"observation\": {\"Age\": NaN}}", "{\"id\": 1, \"observation\": {\"Age\": Infinity}}",
        "{\"id\": 1, \"observation\": {\"Age\": 1.}}", "{\"id\": 1, \"observation\": {\"Age\": .5}}",
        "{\"id\": 1, \"observation\": {\"Age\": +1}}", "{\"id\": 1, \"observation\": {\"Sex\": \"a\tb\"}}",
        "{\"id\": 1, \"observation\": {\"Sex\": \"\\x\"}}", "{\"id\": 1, \"observation\": {\"Sex\": \"\\u12\"}}",
        "{\"id\": 1, \"observation\": {\"Sex\": \"\\ud800\"}}", "{\"id\": 1, \"observation\": {\"Sex\": \"unterminated}}",
        "{\"id\": 1, \"observation\": {\"Age\": 1e}}", "{\"id\": 1, \"observation\": {\"Age\": -}}",
        "\xef\xbb\xbf{\"id\": 1, \"observation\": {}}",
        ]):
    predict(body, 400, "not JSON (RFC 8259, as jsonb reads it)", "badjson-%02d" % i)

# --- invalid UTF-8, NUL bytes: 400 ---
for i, raw in enumerate([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]):
    add("utf8-%02d" % i, 400, "not UTF-8",
        post("/predict", b'{"id": 1, "observation": {"Sex": "' + raw + b'"}}'))
add("utf8-key", 400, "not UTF-8 in a key", post("/predict", b'{"id": 1, "observation": {"S\xffx": "male"}}'))
add("nul-raw-in-string", 400, "raw NUL in a string", post("/predict", b'{"id": 1, "observation": {"Sex": "a\x00b"}}'))
add("nul-raw-outside", 400, "raw NUL between tokens", post("/predict", b'{"id": 1,\x00 "observation": {}}'))
add("nul-escaped-value", 422, "\\u0000 cannot be stored by jsonb", post("/predict", '{"id": 1, "observation": {"Sex": "a\\u0000"}}'))
add("nul-escaped-key", 422, "\\u0000 in a key", post("/predict", '{"id": 1, "observation": {"S\\u0000": "male"}}'))

# --- nesting ---
add("deep-100000", 400, "100,000 levels of nesting: over the parser's limit",
    gen={"path": "/predict", "prefix": '{"id": 1, "observation": {"Age": ', "open": "[", "close": "]",
         "depth": 100000, "suffix": "}}"})
add("deep-10000-object", 400, "10,000 nested objects",
    gen={"path": "/predict", "prefix": '{"id": 1, "observation": {"Age": ', "open": '{"a":', "close": "}",
         "depth": 10000, "inner": "1", "suffix": "}}"})
add("deep-500-in-observation", 422, "500 levels inside a value: JSON, but not a number for Age",
    post("/predict", '{"id": 1, "observation": {"Age": ' + "[" * 500 + "]" * 500 + "}}"))

# --- wrong shapes, every field: 422 ---
for i, body in enumerate(["null", "\"str\"", "123", "[]", "[1, 2]", "true", "{}"]):
    predict(body, 422, "JSON, but not an object with id and observation", "shape-%02d" % i)
ids = ["\"1\"", "1.5", "1.0", "1e3", "true", "false", "null", "[]", "{}", "[1]", "-1.0",
       "9223372036854775808", "-9223372036854775809", "99999999999999999999999999", "1e400",
       "\"1; DROP TABLE predictions; --\"", "\"' OR '1'='1\"", "0x10", "\"\""]
for i, v in enumerate(ids):
    body = '{"id": %s, "observation": {"Sex": "male"}}' % v
    predict(body, 422 if not v.startswith("0x") else 400, "id %s is not a bigint integer literal" % v, "id-%02d" % i)
predict('{"observation": {"Sex": "male"}}', 422, "id missing", "id-missing")
for i, v in enumerate(["\"obs\"", "1", "[]", "[{\"Sex\": \"male\"}]", "null", "true", "\"{\\\"Sex\\\": 1}\""]):
    predict('{"id": 7, "observation": %s}' % v, 422, "observation is not an object", "observation-%02d" % i)
predict('{"id": 7}', 422, "observation missing", "observation-missing")
# observation values the model cannot read: the core's message, 422
bad_values = {"Age": ["\"abc\"", "\"1; DROP TABLE predictions\"", "\"' OR 1=1 --\"", "{}", "[]", "\"inf\"", "1e400",
                      "\"1__0\"", "\"0x1A\"", "\"\u0661\u0662\""],
              "Fare": ["\"$7.25\"", "[7.25]", "{\"v\": 7.25}", "\"-inf\"", "-1e400"],
              "Pclass": ["\"first\"", "\"3rd\"", "{}", "\"); DELETE FROM predictions; --\""],
              "SibSp": ["\"one\"", "[1]"], "Parch": ["\"none\"", "{}"],
              "Sex": ["{}", "[\"male\"]", "{\"$ne\": 1}"], "Cabin": ["[]", "{}"], "Embarked": ["[\"S\"]", "{}"]}
n = 0
for col, values in bad_values.items():
    for v in values:
        obs = dict(GOOD_OBS)
        body = json.dumps({"id": 7, "observation": obs})[:-2] + ', "%s": %s}}' % (col, v)
        predict(body, 422, "the model cannot read %s = %s" % (col, v), "value-%02d" % n)
        n += 1
# duplicate keys: the last wins; a bad last value is refused
predict('{"id": 7, "observation": {"Age": 22, "Age": "x"}}', 422, "duplicate key, last value bad", "dup-value")
predict('{"id": "x", "id": 7.5, "observation": {}}', 422, "duplicate id, last one not an integer", "dup-id")
predict('{"id": 7, "observation": {}, "observation": []}', 422, "duplicate observation, last not an object", "dup-observation")

# --- /update: 422 for bad fields, 404 for unknown ids ---
for i, v in enumerate(["2", "-1", "1.0", "0.5", "\"1\"", "\"true\"", "null", "[]", "{}", "\"0; DROP TABLE predictions\""]):
    add("update-class-%02d" % i, 422, "true_class %s" % v, post("/update", '{"id": 1, "true_class": %s}' % v))
for i, v in enumerate(["\"1\"", "1.5", "null", "9223372036854775808", "\"1 OR 1=1\""]):
    add("update-id-%02d" % i, 422, "id %s" % v, post("/update", '{"id": %s, "true_class": 1}' % v))
add("update-missing-class", 422, "true_class missing", post("/update", '{"id": 1}'))
add("update-missing-id", 422, "id missing", post("/update", '{"true_class": 1}'))
add("update-unknown-id", 404, "no such observation", post("/update", '{"id": 987654321, "true_class": 1}'))
add("update-not-json", 400, "not JSON", post("/update", "true_class=1"))
add("update-form", 400, "a form body is not JSON", post("/update", "id=1&true_class=1", ctype="application/x-www-form-urlencoded"))

# --- URLs: injection, traversal, encodings ---
for i, path in enumerate(["/predictions/1;DROP%20TABLE%20predictions", "/predictions/1%20OR%201=1",
                          "/predictions/'1'", "/predictions/abc", "/predictions/1.5",
                          "/predictions/99999999999999999999", "/predictions/-", "/predictions/0x1"]):
    add("path-id-%02d" % i, 422, "observation id in the path is not an integer", get(path))
for i, path in enumerate(["/predictions/", "/../../etc/passwd", "/predict/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                          "/predictions/1/extra", "/list-db-contents/x", "/admin", "/predict.php",
                          "/predictions/1%00", "/" + "a" * 2000, "/metrics/../../x", "/index.html",
                          "/predictions?id=1;DROP%20TABLE%20predictions"]):
    add("path-unknown-%02d" % i, 404, "unknown path", get(path))
for i, q in enumerate(["limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1;DROP%20TABLE%20predictions",
                       "after=abc", "after=1%20OR%201=1", "limit=1e3", "after=99999999999999999999"]):
    add("list-query-%02d" % i, 422, "bad list parameter %s" % q, get("/list-db-contents?" + q))

# --- methods, versions: 405, or libmicrohttpd's refusal ---
for i, m in enumerate(["GET", "PUT", "DELETE", "PATCH"]):
    add("method-predict-%02d" % i, 405, "%s /predict" % m, get("/predict", method=m))
for i, m in enumerate(["POST", "DELETE"]):
    add("method-metrics-%02d" % i, 405, "%s /metrics" % m, get("/metrics", method=m))
for i, m in enumerate(["BREW", "PROPFIND", "TRACE", "CONNECT"]):
    add("method-unknown-%02d" % i, "4xx", "unknown method %s" % m, get("/predict", method=m))
add("http10-predict-bad", 422, "HTTP/1.0 with a bad id",
    post("/predict", '{"id": "x", "observation": {}}', version="HTTP/1.0"))
add("http09", "close", "an HTTP/0.9 request line", b"GET /healthz\r\n\r\n")
add("http2-preface", "close", "an HTTP/2 preface on an HTTP/1.1 port", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
add("garbage-request-line", "close", "binary garbage", bytes(range(256)) * 4)
add("no-host-http11", 400, "HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n")

# --- headers: injection, floods, lengths ---
add("auth-injection", 401, "SQL in the bearer token (the gateway runs with PREDICT_API_TOKEN)",
    post("/predict", '{"id": 1, "observation": {}}', headers=["Authorization: Bearer ' OR 1=1 --"]))
add("auth-missing", 401, "no token", post("/predict", '{"id": 1, "observation": {}}', headers=["X-No-Auth: 1"]))
add("auth-basic", 401, "Basic instead of Bearer", post("/predict", '{"id": 1, "observation": {}}',
                                                        headers=["Authorization: Basic YWRtaW46YWRtaW4="]))
add("auth-empty-bearer", 401, "empty bearer", post("/predict", '{"id": 1, "observation": {}}', headers=["Authorization: Bearer "]))
add("header-flood-count", "4xx", "10,000 headers",
    gen={"raw_prefix": "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", "header_count": 10000})
add("header-flood-long", "4xx", "one header of 1 MB",
    gen={"raw_prefix": "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", "header_bytes": 1048576})
add("content-length-negative", "4xx", "Content-Length: -1",
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n{}")
add("content-length-huge", 413, "Content-Length: 10^18 announced",
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000000000000\r\n\r\n{")
add("content-length-garbage", "4xx", "Content-Length: abc",
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n{}")
add("content-length-twice", "4xx", "two different Content-Length headers",
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
add("crlf-injection-header", 404, "CR LF injected in the path is not a header",
    b"GET /x%0d%0aSet-Cookie:%20a=b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
add("header-sql", 422, "SQL in custom headers does not matter; the body is bad",
    post("/predict", '{"id": "x"}', headers=["X-Forwarded-For: 1' OR '1'='1", "User-Agent: '; DROP TABLE predictions; --"]))

# --- bodies: size, chunking, slowness ---
add("body-10mb", 413, "a 10 MB body", gen={"path": "/predict", "body_bytes": 10 * 1024 * 1024})
add("body-10mb-chunked", 413, "10 MB in chunks", gen={"path": "/predict", "chunked_bytes": 10 * 1024 * 1024})
add("chunked-never-ends", "close", "a chunked body that never ends (cut by the request timeout, the body limit "
    "or the idle timeout)",
    gen={"path": "/predict", "endless_chunks": True, "seconds": 8})
add("chunked-bad-size", "4xx", "a chunk size that is not hex",
    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
# Slowloris: one byte a second, each sooner than the idle timeout, for longer
# than the request timeout; "deadline": the test asserts that the gateway closed
# the connection within its PREDICT_REQUEST_TIMEOUT (+ 2 s) of the first byte.
SLOW_HEADERS = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: " + "b" * 64 + "\r\n\r\n"
add("slowloris-headers", "close", "headers one byte a second: closed by the request timeout",
    gen={"slowloris": SLOW_HEADERS, "interval": 1.0, "seconds": 15, "deadline": True})
add("slowloris-request-line", "close", "the request line one byte a second: closed by the request timeout",
    gen={"slowloris": "GET /" + "a" * 200 + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "interval": 1.0,
         "seconds": 15, "deadline": True})
add("slowloris-body", "close", "headers at once, then the body one byte a second: closed by the request timeout",
    gen={"headers": "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: 200\r\n\r\n",
         "slowloris": '{"id": 1, "observation": {"Sex": "' + "m" * 200, "interval": 1.0, "seconds": 15,
         "deadline": True})
add("slowloris-chunked", "close", "a chunked body, one byte a second: closed by the request timeout",
    gen={"headers": "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
         "slowloris": "1\r\n{\r\n" + "1\r\n \r\n" * 50, "interval": 1.0, "seconds": 15, "deadline": True})
add("slowloris-keepalive", "close", "a good request answered, then the next one's headers one byte a second "
    "on the same connection: closed by the request timeout, counted from that request's first byte",
    gen={"first": "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "slowloris": SLOW_HEADERS,
         "interval": 1.0, "seconds": 15, "deadline": True})
add("slow-body", "close", "a body that stops half-way: closed by the request timeout (or the idle timeout)",
    gen={"raw_prefix_only": "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"id\": 1",
         "seconds": 8})
add("pipelined-three-bad", "pipeline:400,422,404", "three bad requests pipelined on one connection",
    post("/predict", "{") + post("/predict", '{"id": "x", "observation": {}}') + get("/nope"))
add("truncated-request-line", "close", "a request line cut before its end", b"POST /predi")

os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    os.unlink(os.path.join(OUT, f))
with open(os.path.join(OUT, "EXPECTED"), "w") as manifest:
    manifest.write("# name\toutcome\twhy   (written by test/hostile/make_corpus.py)\n")
    for i, (name, outcome, why, raw, gen) in enumerate(cases):
        full = "%03d-%s" % (i, name)
        if gen is not None:
            with open(os.path.join(OUT, full + ".gen"), "w") as fh:
                json.dump(gen, fh)
        else:
            with open(os.path.join(OUT, full + ".req"), "wb") as fh:
                fh.write(raw)
        manifest.write("%s\t%s\t%s\n" % (full, outcome, why))
print("%d cases" % len(cases))
