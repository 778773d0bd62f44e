-- wrk script for benchmarks/api_load.py: every request schedules new events.
--
--   wrk ... -s benchmarks/api_load.lua URL -- PATH SERVICE KEY RUN BASE_EPOCH OFFSET_SECONDS OFFSET BATCH
--
-- PATH is /api/events/schedule (one event per request, BATCH 1) or
-- /api/events/bulk (BATCH events per request). Each event's entity_id is
-- unique (run label, thread, counter, item), so each 2xx creates rows rather
-- than finding an existing event. scheduled_time is BASE_EPOCH plus the
-- counter in seconds, written in local time with OFFSET (e.g. -05:00), as the
-- original client sends it. done() prints one line, "API_LOAD {json}", with
-- wrk's figures and the number of answers per status.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  path, service, key, run = args[1], args[2], args[3], args[4]
  base, offset_seconds, offset = tonumber(args[5]), tonumber(args[6]), args[7]
  batch = tonumber(args[8])
  headers = {
    ["Content-Type"] = "application/json",
    ["X-Service-Name"] = service,
    ["X-API-Key"] = key,
  }
  counter = 0
  statuses = {}
end

local function event(n, item)
  local entity = string.format("load-%s-%d-%d-%d", run, tid, n, item)
  local local_time = os.date("!%Y-%m-%dT%H:%M:%S", base + n + offset_seconds)
  return string.format(
    '{"type":"APPOINTMENT_REMINDER","service_id":"%s","entity_id":"%s",'
      .. '"scheduled_time":"%s%s","timezone_context":{"resource_timezone":"America/New_York",'
      .. '"user_timezone":"Europe/London","execution_timezone":"America/New_York"},'
      .. '"payload":{"appointment_id":"%s","reminder_type":"24_hour_reminder"}}',
    service, entity, local_time, offset, entity
  )
end

function request()
  counter = counter + 1
  local body
  if batch == 1 then
    body = event(counter, 0)
  else
    local items = {}
    for i = 1, batch do
      items[i] = event(counter, i)
    end
    body = '{"events":[' .. table.concat(items, ",") .. "]}"
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'API_LOAD {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},'
      .. '"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(parts, ",")
  ))
end
