-- wrk script for bench/dashboard.py: GET requests as several users, with optional think time.
--
-- usage: WRK_THINK_MS=0 wrk -tT ... -s bench/wrk/overview.lua URL -- REQUESTS_FILE T TOKEN1 [TOKEN2 ...]
-- REQUESTS_FILE holds one request per line: "<user number>\t<path>"; user N sends
-- "Authorization: Bearer <TOKEN N>". Requests are formatted once, in init().
-- WRK_THINK_MS > 0: after each answer a connection waits 0.5–1.5 × that many ms before its next
-- request (a person looking at the page); wrk's latency excludes the wait. 0: closed loop.

local think = tonumber(os.getenv("WRK_THINK_MS") or "0") or 0

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

local requests = {}
local n = 0
local i = 0

function init(args)
  local file = args[1]
  local threads_total = tonumber(args[2]) or 1
  local tokens = {}
  for k = 3, #args do
    tokens[#tokens + 1] = args[k]
  end
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    local tab = assert(line:find("\t", 1, true), "expected <user>\\t<path>")
    local who = tonumber(line:sub(1, tab - 1))
    local path = line:sub(tab + 1)
    n = n + 1
    requests[n] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[who] })
  end
  f:close()
  math.randomseed(thread_no * 7919)
  -- spread the starting points of the threads over the file
  i = math.floor((thread_no - 1) * n / math.max(threads_total, 1))
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end

if think > 0 then
  function delay()
    return math.floor(think * (0.5 + math.random()))
  end
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p95": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9)))
end
