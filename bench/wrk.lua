-- wrk script for every scenario, configured by environment variables:
--   BENCH_TOKEN   x-access-token header        BENCH_BASIC  Authorization header value
--   BENCH_METHOD  request method (GET)         BENCH_BODY   request body (JSON)
--   BENCH_IDS     "1,2,5,…": cycle GET /template/{id} over these ids
--   BENCH_DELAY   milliseconds between requests of a connection (a paced probe)
-- done() prints one JSON line that bench/driver.py reads.

local token = os.getenv("BENCH_TOKEN")
local basic = os.getenv("BENCH_BASIC")
local body = os.getenv("BENCH_BODY")
local ids = os.getenv("BENCH_IDS")
local pause = tonumber(os.getenv("BENCH_DELAY") or "")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
if token then wrk.headers["x-access-token"] = token end
if basic then wrk.headers["Authorization"] = basic end
if body then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

if ids and ids ~= "" then
  local prepared, n, i = {}, 0, 0
  for id in ids:gmatch("%d+") do
    n = n + 1
    prepared[n] = wrk.format(nil, "/template/" .. id)
  end
  request = function()
    i = i % n + 1
    return prepared[i]
  end
end

if pause then
  delay = function() return pause end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
