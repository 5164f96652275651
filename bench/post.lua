-- wrk script: POST the lines of $BENCH_BODIES in turn (one JSON order, or one NDJSON batch, per line with "\n"
-- escaped as \x1e), and print one JSON line of results when done.
local bodies = {}
local path = os.getenv("BENCH_BODIES")
for line in io.lines(path) do bodies[#bodies + 1] = line:gsub("\30", "\n") end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

function init(args)
  index = offset or 0
end

function request()
  index = index + 1
  return wrk.format(nil, wrk.path, nil, bodies[(index % #bodies) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
