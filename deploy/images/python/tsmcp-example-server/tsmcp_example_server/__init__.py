"""A minimal stdio MCP server using only the standard library.

It exists so that the runtime image can bake in and prove a Python MCP
server without a package index: newline-delimited JSON-RPC 2.0 on
stdin/stdout, tools "now" (UTC time, like the playground's server_time)
and "echo". Real Python servers (the `mcp` SDK) are baked the same way
from an index or a wheel directory: see deploy/README.md.
"""

import datetime
import json
import sys

PROTOCOL = "2025-06-18"

TOOLS = [
    {
        "name": "now",
        "description": "Current UTC time (RFC 3339), from Python",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "echo",
        "description": "Echo a message back",
        "inputSchema": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    },
]


def handle(req):
    method = req.get("method")
    params = req.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", PROTOCOL),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "tsmcp-example-server", "version": "0.1.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        name = params.get("name")
        args = params.get("arguments") or {}
        if name == "now":
            text = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        elif name == "echo":
            text = "python echo: " + str(args.get("message", ""))
        else:
            raise KeyError(name)
        return {"content": [{"type": "text", "text": text}], "isError": False}
    raise LookupError(method)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError:
            continue
        if "id" not in req:
            continue  # a notification
        resp = {"jsonrpc": "2.0", "id": req["id"]}
        try:
            resp["result"] = handle(req)
        except LookupError:
            resp["error"] = {"code": -32601, "message": "method not found"}
        except KeyError:
            resp["error"] = {"code": -32602, "message": "unknown tool"}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
