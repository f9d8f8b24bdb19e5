"""The benchmark's peer (rows 2 and 2'): the official MCP Python SDK serving one `echo` tool over
Streamable HTTP with JSON responses, run by uvicorn, the ASGI server the SDK itself uses in
MCPServer.run(). Started by bench/run.sh with the bench virtualenv's python:

    python bench/sdk_echo_server.py HOST PORT [sessions|stateless]

`sessions` (the default) is the SDK's own default: a session per client, as mcpd's row 3 keeps.
`stateless` is its stateless_http mode, with no session, set up anew for each request: the
counterpart of mcpd's row 4.

Access logging is off and the log level is warning: logging each request would measure the
terminal, not the server (mcpd and nginx are run the same way).
"""

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("bench-echo", log_level="WARNING")


@server.tool()
def echo(message: str) -> str:
    """Answers with the message it was given."""
    return message


def main() -> None:
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] not in ("sessions", "stateless")):
        sys.exit("usage: sdk_echo_server.py HOST PORT [sessions|stateless]")
    host, port = sys.argv[1], int(sys.argv[2])
    stateless = len(sys.argv) == 4 and sys.argv[3] == "stateless"
    app = server.streamable_http_app(json_response=True, stateless_http=stateless, host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
