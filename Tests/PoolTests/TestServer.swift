// A small stdio MCP server in Python, written by hand (no SDK): enough JSON-RPC to drive every
// path of the pool. Its behaviour is chosen per tool, and per process through environment
// variables (BANNER, IGNORE_TERM, MARKER).
let testServerSource = #"""
import json, os, signal, subprocess, sys, threading, time

out_lock = threading.Lock()
cancelled = set()
client_answers = {}
client_events = {}
extra_tools = []
marker = os.environ.get("MARKER")

def send(message):
    data = (json.dumps(message) + "\n").encode()
    with out_lock:
        view = memoryview(data)
        while view:
            n = os.write(1, view)
            view = view[n:]

def note(text):
    if marker:
        with open(marker, "a") as f:
            f.write(text + "\n")

def result(id, value):
    send({"jsonrpc": "2.0", "id": id, "result": value})

def text_result(id, text, **extra):
    value = {"content": [{"type": "text", "text": text}], "isError": False}
    value.update(extra)
    result(id, value)

def tools():
    base = [{"name": name, "description": "test tool " + name, "inputSchema": {"type": "object"}}
            for name in ["echo", "slow", "stubborn", "crash", "flood", "grandchild", "add_tool",
                         "ask_client", "fail", "whoami", "huge", "twice"]]
    return base + extra_tools

def ask_client(method):
    id = "srv-" + method
    event = threading.Event()
    client_events[id] = event
    send({"jsonrpc": "2.0", "id": id, "method": method})
    event.wait(5)
    return client_answers.get(id)

def run_tool(id, params):
    name = params["name"]
    args = params.get("arguments") or {}
    token = (params.get("_meta") or {}).get("progressToken")
    if name == "echo":
        text_result(id, args.get("message", ""), structuredContent={"echoed": args.get("message", "")})
    elif name == "slow":
        steps = args.get("steps", 3)
        send({"jsonrpc": "2.0", "method": "notifications/message",
              "params": {"level": "info", "logger": "slow", "data": "starting"}})
        for i in range(steps):
            if id in cancelled:
                # Like the Python SDK: a cancelled request is answered with an error.
                send({"jsonrpc": "2.0", "id": id, "error": {"code": 0, "message": "Request cancelled"}})
                return
            if token is not None:
                send({"jsonrpc": "2.0", "method": "notifications/progress",
                      "params": {"progressToken": token, "progress": i + 1, "total": steps, "message": "step"}})
            time.sleep(args.get("interval", 0.05))
        text_result(id, "done after %d steps" % steps)
    elif name == "stubborn":
        time.sleep(60)
    elif name == "crash":
        sys.stderr.write("about to crash\n")
        sys.stderr.flush()
        os._exit(3)
    elif name == "flood":
        line = ("x" * 3000 + "\n").encode()
        for _ in range(args.get("lines", 1000)):
            os.write(2, line)
        text_result(id, "flooded")
    elif name == "grandchild":
        child = subprocess.Popen(["sleep", "60"])
        text_result(id, str(child.pid))
    elif name == "add_tool":
        extra_tools.append({"name": args.get("name", "added"), "inputSchema": {"type": "object"}})
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        text_result(id, "added")
    elif name == "ask_client":
        answers = {"ping": ask_client("ping"), "roots": ask_client("roots/list")}
        text_result(id, json.dumps(answers))
    elif name == "fail":
        send({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "tool exploded"}})
    elif name == "whoami":
        text_result(id, str(os.getpid()), structuredContent={
            "pid": os.getpid(), "pgid": os.getpgid(0), "cwd": os.getcwd(), "env": dict(os.environ),
            "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")), "pdeathsig": main_thread_pdeathsig})
    elif name == "huge":
        text_result(id, "y" * args.get("bytes", 10000))
    elif name == "twice":
        text_result(id, "first")
        text_result(id, "second")
    else:
        send({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "unknown tool " + name}})

def handle(message):
    method = message.get("method")
    id = message.get("id")
    if method is None:
        if id in client_events:
            client_answers[id] = message.get("result", message.get("error"))
            client_events[id].set()
        return
    params = message.get("params") or {}
    if method == "initialize":
        note("initialize " + params.get("protocolVersion", "?") + " " + params.get("clientInfo", {}).get("name", "?"))
        result(id, {"protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {"listChanged": True}, "resources": {}},
                    "serverInfo": {"name": "test-server", "version": "1.0"}})
    elif method == "notifications/initialized":
        note("initialized")
    elif method == "tools/list":
        everything = tools()
        start = int(params.get("cursor") or 0)
        page = everything[start:start + 5]
        value = {"tools": page}
        if start + 5 < len(everything):
            value["nextCursor"] = str(start + 5)
        result(id, value)
    elif method == "tools/call":
        threading.Thread(target=run_tool, args=(id, params), daemon=True).start()
    elif method == "notifications/cancelled":
        cancelled.add(params.get("requestId"))
        note("cancelled %s %s" % (params.get("requestId"), params.get("reason")))
    elif method == "resources/list":
        result(id, {"resources": [{"uri": "test://a", "name": "a"}, {"uri": "test://b", "name": "b"}]})
    elif method == "resources/read":
        result(id, {"contents": [{"uri": params.get("uri"), "text": "content of " + str(params.get("uri"))}]})
    elif method == "ping":
        result(id, {})
    elif id is not None:
        send({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})

def read_pdeathsig():
    # Per thread: asked here, in the main thread, the one that was exec'd.
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        sig = ctypes.c_int(0)
        libc.prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
        return sig.value
    except Exception:
        return -1

main_thread_pdeathsig = read_pdeathsig()
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.environ.get("BANNER"):
    os.write(1, b"test server starting (a banner, not JSON)\n")
    os.write(1, b"42\n")
sys.stderr.write("test server ready\n")
sys.stderr.flush()
for raw in sys.stdin.buffer:
    line = raw.strip()
    if line:
        handle(json.loads(line))
note("stdin closed")
"""#
