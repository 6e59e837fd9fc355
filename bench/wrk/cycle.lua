-- wrk script: cycle through pre-generated requests, report percentiles as one JSON line.
--
-- usage: wrk -tT ... -s bench/wrk/cycle.lua URL -- METHOD REQUESTS_FILE T ["Name: value" ...]
-- REQUESTS_FILE holds one request per line: "<path>\t<body>" (body may be empty).
-- Every thread loads the whole file and starts at its own offset, so threads do not send the
-- same sequence in lock step. Requests are formatted once, in init(), not per request.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

local requests = {}
local n = 0
local i = 0

function init(args)
  local method = args[1]
  local file = args[2]
  local threads_total = tonumber(args[3]) or 1
  local headers = {}
  for k = 4, #args do
    local name, value = args[k]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    local tab = line:find("\t", 1, true)
    local path, body
    if tab then
      path = line:sub(1, tab - 1)
      body = line:sub(tab + 1)
    else
      path = line
      body = ""
    end
    if body == "" then body = nil end
    n = n + 1
    requests[n] = wrk.format(method, path, headers, body)
  end
  f:close()
  -- spread the starting points of the threads over the file
  i = math.floor((thread_no - 1) * n / math.max(threads_total, 1))
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
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
