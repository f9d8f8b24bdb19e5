-- wrk 4.1 script: one mcpd tool call = POST /mcp/execute, then GET /mcp/stream/<call_id>.
--
--   wrk -t2 -c16 -d10s --latency -s bench/execute_stream.lua http://127.0.0.1:18000 -- TOKEN
--
-- wrk gives each thread one Lua state shared by all of that thread's connections, and
-- response() is not told which connection a response arrived on. So the script does not try to
-- pair requests per connection: each execute response puts its call_id on this thread's FIFO, and
-- request() sends a stream for the oldest waiting call_id, or a new execute when none is waiting.
-- Every call is streamed exactly once, whichever connection picks it up, and executes and streams
-- stay one to one (a few ids may be left waiting when the run ends). An execute whose response
-- carries no call_id (an error, say) leaves nothing on the FIFO, so the next request is simply
-- another execute.

local token = "bench-token"
local execute_request -- formatted once: it never changes

-- FIFO of call_ids waiting to be streamed: ids[first..last].
local ids, first, last = {}, 1, 0

-- Per-thread counters, read by done() through thread:get().
executes_ok, streams_ok, failures = 0, 0, 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   if args[1] ~= nil and args[1] ~= "" then
      token = args[1]
   end
   execute_request = wrk.format("POST", "/mcp/execute", {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
   }, '{"tool":"echo","input":{"message":"hello"}}')
end

function request()
   if first <= last then
      local call_id = ids[first]
      ids[first] = nil
      first = first + 1
      return wrk.format("GET", "/mcp/stream/" .. call_id, {
         ["Authorization"] = "Bearer " .. token,
      })
   end
   return execute_request
end

function response(status, headers, body)
   -- A stream's body is SSE text ("id: 1\nevent: final\n..."); an execute's is a JSON object.
   if status == 200 and body:sub(1, 1) == "{" then
      local call_id = body:match('"call_id"%s*:%s*"([^"]+)"')
      if call_id ~= nil then
         last = last + 1
         ids[last] = call_id
         executes_ok = executes_ok + 1
         return
      end
   elseif status == 200 and body:find("event: final", 1, true) then
      streams_ok = streams_ok + 1
      return
   end
   failures = failures + 1
end

function done(summary, latency, requests)
   local executes, streams, failed = 0, 0, 0
   for _, thread in ipairs(threads) do
      executes = executes + thread:get("executes_ok")
      streams = streams + thread:get("streams_ok")
      failed = failed + thread:get("failures")
   end
   io.write(string.format("mcpd calls: %d executes ok, %d streams ended with final, %d failed responses\n",
      executes, streams, failed))
   -- The line bench/run.sh reads: a call counts once its stream ended with final.
   io.write(string.format("bench-calls: ok=%d failed=%d handshake=0 seconds=%.3f\n",
      streams, failed, summary.duration / 1e6))
end
