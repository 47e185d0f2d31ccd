-- wrk script for bench/http.sh: POST /predict with a unique id per request.
--
--   wrk -s bench/http.lua ... -- BASE
--
-- Thread k (0-based) sends ids BASE + k * 10^7 + 1, + 2, ...; a run never
-- repeats an id, and runs with different BASEs never collide, so every
-- request is a first insert (no idempotent replays). The observations cycle
-- through Titanic passengers (complete rows: the tutorial's app needs every
-- column). done() prints one RESULT line that bench/http.sh parses.

local observations = {
  '{"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}',
  '{"Pclass": 1, "Sex": "female", "Age": 38, "SibSp": 1, "Parch": 0, "Fare": 71.2833, "Cabin": "C85", "Embarked": "C"}',
  '{"Pclass": 3, "Sex": "female", "Age": 26, "SibSp": 0, "Parch": 0, "Fare": 7.925, "Embarked": "S"}',
  '{"Pclass": 1, "Sex": "female", "Age": 35, "SibSp": 1, "Parch": 0, "Fare": 53.1, "Cabin": "C123", "Embarked": "S"}',
  '{"Pclass": 3, "Sex": "male", "Age": 35, "SibSp": 0, "Parch": 0, "Fare": 8.05, "Embarked": "S"}',
  '{"Pclass": 1, "Sex": "male", "Age": 54, "SibSp": 0, "Parch": 0, "Fare": 51.8625, "Cabin": "E46", "Embarked": "S"}',
  '{"Pclass": 3, "Sex": "male", "Age": 2, "SibSp": 3, "Parch": 1, "Fare": 21.075, "Embarked": "S"}',
  '{"Pclass": 2, "Sex": "female", "Age": 14, "SibSp": 1, "Parch": 0, "Fare": 30.0708, "Embarked": "C"}',
}

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  base = tonumber(args[1] or "0")
  sent = 0
  ok = 0
  not_ok = 0
end

function request()
  sent = sent + 1
  local id = base + index * 10000000 + sent
  local body = string.format('{"id": %d, "observation": %s}', id,
                             observations[sent % #observations + 1])
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else not_ok = not_ok + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_not_ok = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_not_ok = total_not_ok + t:get("not_ok")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d ok=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total_ok, total_not_ok, e.connect + e.read + e.write + e.timeout))
end
