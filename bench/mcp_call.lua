-- wrk 4.1 script: MCP `tools/call` over Streamable HTTP, for any server that speaks it (mcpd, the
-- Python SDK, mcp-proxy), with JSON responses.
--
--   wrk -t2 -c16 -d10s --latency -s bench/mcp_call.lua URL -- MODE PATH TOOL ARGUMENTS SESSIONS [TOKEN]
--
--   MODE       session    2025-11-25 handshake: initialize, notifications/initialized, then
--                         tools/call with Mcp-Session-Id (none when the server runs without
--                         sessions, as the SDK's stateless_http mode does);
--              stateless  2026-07-28: no handshake; every tools/call carries the _meta envelope
--                         (protocol version, client capabilities, client info) and the mirrored
--                         MCP-Protocol-Version, Mcp-Method and Mcp-Name headers
--   PATH       the MCP endpoint ("/mcp", or "/mcp/" for mcp-proxy's Starlette mount)
--   TOOL       the tool's name;  ARGUMENTS  its arguments as a JSON object
--   SESSIONS   sessions per wrk thread: its connections (connections ÷ threads)
--   TOKEN      bearer token, sent when given
--
-- Sessions: wrk gives each thread one Lua state shared by all its connections, and response() is
-- not told which connection answered. Every connection asks request() for its first request at
-- once, before any answer, so each thread's first `connections` requests are all initializes: one
-- session per connection, as a client per connection would make. The thread's connections then
-- take turns over the thread's sessions (mcpd does not tie a session to a connection), and each new
-- session gets its notifications/initialized once. Handshake requests are counted apart from calls.
--
-- done() prints one line run.sh reads:  bench-calls: ok=N failed=M handshake=H seconds=S

local mode, path, tool, arguments, token = "session", "/mcp", "echo", '{"message":"hello"}', nil
local revision = "2025-11-25"
local client_info = '{"name":"mcpd-bench","version":"1.0.0"}'

local sessions = {}        -- session ids of this thread ("" for a server without sessions)
local to_notify = {}       -- sessions still owed their notifications/initialized
local initializes_sent = 0
local initializes_answered = 0
local wanted_sessions = 1
local next_session = 1
local next_id = 1

-- Per-thread counters, read by done() through thread:get().
calls_ok, calls_failed, handshake = 0, 0, 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   mode = args[1] or mode
   path = args[2] or path
   tool = args[3] or tool
   arguments = args[4] or arguments
   wanted_sessions = math.max(1, tonumber(args[5] or "1") or 1)
   if args[6] ~= nil and args[6] ~= "" then token = args[6] end
   if mode ~= "session" and mode ~= "stateless" then
      error("mcp_call.lua: MODE must be session or stateless, not " .. tostring(mode))
   end
   if mode == "stateless" then revision = "2026-07-28" end
end

local function headers(extra)
   local h = {
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json, text/event-stream",
      ["MCP-Protocol-Version"] = revision,
   }
   if token ~= nil then h["Authorization"] = "Bearer " .. token end
   for k, v in pairs(extra or {}) do h[k] = v end
   return h
end

local function initialize_request()
   initializes_sent = initializes_sent + 1
   local h = headers()
   h["MCP-Protocol-Version"] = nil -- not sent before the version is negotiated
   return wrk.format("POST", path, h, string.format(
      '{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"%s","capabilities":{},"clientInfo":%s}}',
      0, revision, client_info))
end

local function session_headers(session)
   if session ~= "" then return headers({ ["Mcp-Session-Id"] = session }) end
   return headers()
end

-- tools/call requests are assembled from pieces made once. wrk.format builds a header table
-- and formats every header anew on each request: ~3 µs more client CPU per call (measured
-- against nginx) that the server under test has to share on a 2-core machine (nginx's row runs
-- without a script at all).
local call_heads = {}      -- session id ("" for none) -> the request head up to the Content-Length value
local body_before_id, body_after_id

local function call_head(session)
   local head = call_heads[session]
   if head == nil then
      local h
      if mode == "session" then
         h = session_headers(session)
      else
         h = headers({ ["Mcp-Method"] = "tools/call", ["Mcp-Name"] = tool })
      end
      local lines = { "POST " .. path .. " HTTP/1.1", "Host: " .. wrk.headers["Host"] }
      for name, value in pairs(h) do lines[#lines + 1] = name .. ": " .. value end
      lines[#lines + 1] = "Content-Length: "
      head = table.concat(lines, "\r\n")
      call_heads[session] = head
   end
   return head
end

local function call_request(session)
   if body_before_id == nil then
      body_before_id = '{"jsonrpc":"2.0","id":'
      if mode == "session" then
         body_after_id = string.format(',"method":"tools/call","params":{"name":"%s","arguments":%s}}', tool, arguments)
      else
         body_after_id = string.format(',"method":"tools/call","params":{"name":"%s","arguments":%s,' ..
            '"_meta":{"io.modelcontextprotocol/protocolVersion":"%s","io.modelcontextprotocol/clientCapabilities":{},' ..
            '"io.modelcontextprotocol/clientInfo":%s}}}', tool, arguments, revision, client_info)
      end
   end
   next_id = next_id + 1
   local body = body_before_id .. next_id .. body_after_id
   return call_head(session) .. #body .. "\r\n\r\n" .. body
end

function request()
   if mode == "session" then
      if initializes_sent < wanted_sessions then return initialize_request() end
      local pending = table.remove(to_notify)
      if pending ~= nil then
         return wrk.format("POST", path, session_headers(pending),
            '{"jsonrpc":"2.0","method":"notifications/initialized"}')
      end
      if #sessions == 0 then return initialize_request() end -- every initialize failed so far
      local session = sessions[next_session]
      next_session = next_session % #sessions + 1
      return call_request(session)
   end
   return call_request("")
end

local function header(headers_, name)
   for k, v in pairs(headers_) do
      if string.lower(k) == name then return v end
   end
   return nil
end

function response(status, headers_, body)
   if status == 202 then -- notifications/initialized acknowledged
      handshake = handshake + 1
      return
   end
   if initializes_answered < initializes_sent and status == 200 and body:find('"serverInfo"', 1, true) then
      -- an initialize result
      initializes_answered = initializes_answered + 1
      handshake = handshake + 1
      local session = header(headers_, "mcp-session-id") or ""
      table.insert(sessions, session)
      if session ~= "" then table.insert(to_notify, session) end
      return
   end
   -- A tools/call answer: a JSON-RPC result that is not a tool error (JSON, or one SSE message).
   local is_error = body:find('"isError"', 1, true)
   if is_error ~= nil then is_error = body:find('^"isError"%s*:%s*true', is_error) end
   if status == 200 and body:find('"result"', 1, true) and not is_error then
      calls_ok = calls_ok + 1
   else
      calls_failed = calls_failed + 1
      if calls_failed <= 3 then
         io.stderr:write(string.format("mcp_call.lua: failed call, status %d: %s\n", status, body:sub(1, 300)))
      end
   end
end

function done(summary, latency, requests)
   local ok, failed, hs = 0, 0, 0
   for _, thread in ipairs(threads) do
      ok = ok + thread:get("calls_ok")
      failed = failed + thread:get("calls_failed")
      hs = hs + thread:get("handshake")
   end
   io.write(string.format("bench-calls: ok=%d failed=%d handshake=%d seconds=%.3f\n",
      ok, failed, hs, summary.duration / 1e6))
end
