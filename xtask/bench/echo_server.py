"""The Python peer of `cargo xtask bench dispatch`: the official Python SDK's
MCPServer (FastMCP before mcp 2) with the same trivial tool as
mcp-testserver's `echo`.

    python echo_server.py            # stdio
    python echo_server.py http PORT  # Streamable HTTP at http://127.0.0.1:PORT/mcp
"""

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("py-echo", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
