"""The benchmark's peer (row 2): the official MCP Python SDK serving one `echo` tool over Streamable
HTTP with JSON responses and no sessions (stateless_http), run by uvicorn, the ASGI server the SDK
itself uses in MCPServer.run(). Started by bench/run.sh with the bench virtualenv's python:

    python bench/sdk_echo_server.py HOST PORT

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
    host, port = sys.argv[1], int(sys.argv[2])
    app = server.streamable_http_app(json_response=True, stateless_http=True, host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
