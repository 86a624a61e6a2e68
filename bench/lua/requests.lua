-- wrk script: sends the requests of a generated Lua table (bench/seed.py writes them), counts
-- answers by status code and error code, and prints one JSON line of results from done().
--
-- wrk -s requests.lua URL -- FILE MODE THREADS
--   FILE: a Lua file returning { {method, path, bearer token, body}, ... }
--   MODE: "cycle" sends the list round and round; "once" sends each request once and then
--         leaves the connection idle, prints BENCH_ANSWER for each answer and
--         BENCH_THREAD_DONE when all of a thread's requests are answered (bench/run.py then
--         stops wrk; it also stops it when answers stop coming: a request wrk loses on a
--         connection that fails is never answered, and then no thread is ever done).
--   THREADS: wrk's -t, so that in "once" mode each thread takes its own share of the list.
--
-- Answers through the proxy are also counted by its X-Cache-Status (HIT, MISS, …). Anonymous
-- reads carry no X-Forwarded-For: the proxy sets it to the connecting address, and with
-- PUBLIC_READ_LIMIT_AT_PROXY=1 (bench/run.py) Kezek counts no public reads of its own.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local mine = {}
listed = 0
local mode = "cycle"
local next_index = 1
local answered = 0
statuses = {}
codes = {}
cache = {}

function init(args)
   local all = dofile(args[1])
   mode = args[2] or "cycle"
   local count = tonumber(args[3]) or 1
   for i, row in ipairs(all) do
      -- "once": each thread its own share; "cycle": every thread the whole list.
      if mode == "cycle" or (i - 1) % count == id then
         local headers = {}
         if row[3] ~= "" then headers["Authorization"] = "Bearer " .. row[3] end
         if row[4] ~= "" then headers["Content-Type"] = "application/json" end
         local body = nil
         if row[4] ~= "" then body = row[4] end
         table.insert(mine, wrk.format(row[1], row[2], headers, body))
      end
   end
   listed = #mine
end

-- In "once" mode a connection whose thread has nothing left to send waits out the run.
function delay()
   if mode == "once" and next_index > #mine then return 3600000 end
   return 0
end

function request()
   local index = next_index
   if index > #mine then
      index = ((index - 1) % #mine) + 1
   end
   next_index = next_index + 1
   return mine[index]
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if status >= 400 then
      local code = string.match(body or "", '"code"%s*:%s*"([%w_]+)"') or "-"
      local ckey = key .. ":" .. code
      codes[ckey] = (codes[ckey] or 0) + 1
   end
   local cached = headers["X-Cache-Status"] or headers["x-cache-status"]
   if cached then cache[cached] = (cache[cached] or 0) + 1 end
   answered = answered + 1
   if mode == "once" then
      io.write("BENCH_ANSWER\n")
      if answered == #mine then io.write("BENCH_THREAD_DONE\n") end
      io.flush()
   end
end

local function json_map(map)
   local parts = {}
   for k, v in pairs(map) do
      table.insert(parts, string.format('"%s":%d', k, v))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local all_statuses, all_codes, all_cache, all_listed = {}, {}, {}, 0
   for _, thread in ipairs(threads) do
      all_listed = all_listed + thread:get("listed")
      for k, v in pairs(thread:get("statuses")) do all_statuses[k] = (all_statuses[k] or 0) + v end
      for k, v in pairs(thread:get("codes")) do all_codes[k] = (all_codes[k] or 0) + v end
      for k, v in pairs(thread:get("cache")) do all_cache[k] = (all_cache[k] or 0) + v end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"listed":%d,"statuses":%s,"codes":%s,"cache":%s}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.timeout,
      all_listed, json_map(all_statuses), json_map(all_codes), json_map(all_cache)))
end
