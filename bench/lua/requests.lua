-- wrk script: sends the requests of a generated Lua table (bench/seed.py writes them), counts
-- answers by status code and error code, and prints one JSON line of results from done().
--
-- wrk -s requests.lua URL -- FILE MODE THREADS
--   FILE: a Lua file returning { {method, path, bearer token, body}, ... }
--   MODE: "cycle" sends the list round and round; "once" sends each request once and then
--         leaves the connection idle, and prints BENCH_THREAD_DONE when all of a thread's
--         requests are answered (bench/run.py then stops wrk).
--   THREADS: wrk's -t, so that in "once" mode each thread takes its own share of the list.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local mine = {}
local mode = "cycle"
local next_index = 1
local answered = 0
statuses = {}
codes = {}

-- Anonymous reads come from this many client addresses per thread (X-Forwarded-For, read with
-- NUM_PROXIES=1 as behind the deployment's proxy), so each address's rate limit log stays the
-- size it has for a real client (a few hundred entries a minute), not one log of every request
-- of the run.
local ADDRESSES = 128

-- A GET or HEAD without a token: the public reads that the per-address limit counts.
local function anonymous_read(row)
   return row[3] == "" and (row[1] == "GET" or row[1] == "HEAD")
end

function init(args)
   local all = dofile(args[1])
   mode = args[2] or "cycle"
   local count = tonumber(args[3]) or 1
   -- Only anonymous reads are repeated per address. wrk runs each thread's init before starting
   -- the next thread but starts its clock after the last, so a slow init would let the first
   -- thread's requests before the clock count: 128 copies of the floor's 5 000 bookings took
   -- about 3 s per thread, against well under 0.1 s for every list now.
   local rounds = 1
   if mode == "cycle" and all[1] and anonymous_read(all[1]) then rounds = ADDRESSES end
   for round = 1, rounds do
      for i, row in ipairs(all) do
         -- "once": each thread its own share; "cycle": every thread the whole list.
         if mode == "cycle" or (i - 1) % count == id then
            local headers = {}
            if row[3] ~= "" then
               headers["Authorization"] = "Bearer " .. row[3]
            elseif mode == "cycle" and anonymous_read(row) then
               headers["X-Forwarded-For"] = string.format("10.77.%d.%d", id, round)
            end
            if row[4] ~= "" then headers["Content-Type"] = "application/json" end
            local body = nil
            if row[4] ~= "" then body = row[4] end
            table.insert(mine, wrk.format(row[1], row[2], headers, body))
         end
      end
   end
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
   answered = answered + 1
   if mode == "once" and answered == #mine then
      io.write("BENCH_THREAD_DONE\n")
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
   local all_statuses, all_codes = {}, {}
   for _, thread in ipairs(threads) do
      for k, v in pairs(thread:get("statuses")) do all_statuses[k] = (all_statuses[k] or 0) + v end
      for k, v in pairs(thread:get("codes")) do all_codes[k] = (all_codes[k] or 0) + v end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
      '"statuses":%s,"codes":%s}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.timeout,
      json_map(all_statuses), json_map(all_codes)))
end
