#!/usr/bin/env python3
"""Interop driver: the official MCP Python SDK against one of our servers.

    PYTHONPATH=<dir filled by `pip install --target <dir> -r requirements.txt`> \
        python3 client.py CASE.json

Runs the checks the case asks for and prints one JSON line on stdout:
{"client": "python-sdk X.Y.Z", "checks": [{"name", "ok", "detail"}, ...]}.
Exit status 0 when no check failed, 1 otherwise. Diagnostics
(and a stdio server's stderr) go to stderr. The case format is in README.md.

The SDK connects in its default "auto" mode (probe `server/discover`, fall
back to `initialize`), except for a case with `roots`: roots only exist in
the handshake era (deprecated in 2026-07-28, which has no `initialized` or
`roots/list_changed`), so such a case connects with `mode="legacy"`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import threading
import warnings
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, MCPDeprecationWarning, MCPError, types
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

# The run must end within 30 s; importing the SDK takes about one of them.
TOTAL_TIMEOUT = 28.0  # seconds from main(); the watchdog ends the process then
CLEANUP_MARGIN = 3.0  # the checks stop this long before it, to report cleanly
ROOTS_POLL = 5.0  # how long the server may take to re-fetch the roots
ROOTS_INTERVAL = 0.2

# Roots are deprecated in protocol 2026-07-28; this driver uses them on purpose.
warnings.simplefilter("ignore", MCPDeprecationWarning)


def log(message: str) -> None:
    print(f"client.py: {message}", file=sys.stderr, flush=True)


class Report:
    """The checks so far; printed once, by the run or by the watchdog."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.checks: list[dict[str, Any]] = []
        self.step = "initialize"  # what a timeout interrupted
        self._lock = threading.Lock()
        self._printed = False

    def add(self, name: str, ok: bool | None, detail: str) -> None:
        with self._lock:
            self.checks.append({"name": name, "ok": ok, "detail": detail})
        log(f"{name}: {'ok' if ok else 'not run' if ok is None else 'FAILED'}: {detail}")

    def passed(self) -> bool:
        with self._lock:
            return all(check["ok"] is not False for check in self.checks)

    def emit(self) -> None:
        with self._lock:
            if self._printed:
                return
            self._printed = True
            line = json.dumps({"client": self.client, "checks": self.checks})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def describe(error: BaseException) -> str:
    """One line on an exception (on every exception of a group)."""
    if isinstance(error, MCPError):
        return short(f"JSON-RPC error {error.code}: {error.message}", 300)
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(e) for e in error.exceptions)
    message = str(error)
    return short(f"{type(error).__name__}: {message}", 300) if message else type(error).__name__


def texts(result: types.CallToolResult) -> str:
    """All text content of a tool result, one block per line."""
    return "\n".join(block.text for block in result.content if block.type == "text")


def short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def judge_tools(case: dict[str, Any], names: list[str]) -> tuple[bool, str]:
    missing = [name for name in case.get("expect_tools", []) if name not in names]
    if missing:
        return False, f"{len(names)} tools; missing {', '.join(missing)}"
    return True, f"{len(names)} tools"


def judge_call(call: dict[str, Any], result: types.CallToolResult) -> tuple[bool, str]:
    """`case.call` must succeed with `expect_text` in its text."""
    text = texts(result)
    if result.is_error:
        return False, f"{call['name']}: isError: {short(text)}"
    if call["expect_text"] not in text:
        return False, f"{call['name']}: text lacks {call['expect_text']!r}: {short(text)}"
    return True, f"{call['name']}: {short(text)}"


def judge_error_call(call: dict[str, Any], result: types.CallToolResult) -> tuple[bool, str]:
    """`case.error_call` must be a result with isError and `expect_text` in its text."""
    text = texts(result)
    if not result.is_error:
        return False, f"{call['name']}: isError not set: {short(text)}"
    if call["expect_text"] not in text:
        return False, f"{call['name']}: error text lacks {call['expect_text']!r}: {short(text)}"
    return True, f"{call['name']}: isError: {short(text)}"


def transport_for(case: dict[str, Any]):
    kind = case.get("transport", "stdio")
    if kind == "stdio":
        command, *args = case["command"]
        return stdio_client(StdioServerParameters(command=command, args=args))
    if kind == "http":
        return streamable_http_client(case["url"])
    if kind == "sse":
        return sse_client(case["url"])
    raise ValueError(f"unknown transport {kind!r}")


class Roots:
    """The client's roots: answers roots/list with file:// URIs of `current`."""

    def __init__(self, paths: list[str]) -> None:
        self.current = paths

    async def list_roots(self, context: Any) -> types.ListRootsResult:
        roots = [types.Root(uri=Path(p).as_uri(), name=Path(p).name or p) for p in self.current]
        return types.ListRootsResult(roots=roots)


async def call_tool(client: Client, call: dict[str, Any]) -> types.CallToolResult:
    return await client.call_tool(call["name"], call.get("arguments", {}))


async def poll_call(client: Client, call: dict[str, Any], expect: str) -> tuple[bool, str]:
    """Repeat the call until it succeeds with `expect` in its text (up to ROOTS_POLL s)."""
    text = ""
    with anyio.move_on_after(ROOTS_POLL):
        while True:
            result = await call_tool(client, call)
            text = texts(result)
            if not result.is_error and expect in text:
                return True, text
            await anyio.sleep(ROOTS_INTERVAL)
    return False, text


def requested_checks(case: dict[str, Any]) -> list[str]:
    """The checks a case asks for after initialize, in order."""
    wanted = [
        ("tools/list", True),
        ("prompts/list", case.get("list_prompts")),
        ("resources/list", case.get("list_resources")),
        ("tools/call", case.get("call")),
        ("tool error", case.get("error_call")),
        ("roots", case.get("roots")),
    ]
    return [name for name, asked in wanted if asked]


async def run(case: dict[str, Any], report: Report) -> None:
    roots_case = case.get("roots")
    roots = Roots(roots_case["initial"]) if roots_case else None
    client = Client(
        transport_for(case),
        mode="legacy" if roots else "auto",
        list_roots_callback=roots.list_roots if roots else None,
        client_info=types.Implementation(name="mcp-servers-interop", version="0"),
    )
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(client)
        except Exception as e:
            report.add("initialize", False, describe(e))
            for name in requested_checks(case):
                report.add(name, False, "not run: no session")
            return
        info = client.server_info
        name = f"{info.name} {info.version}" if info else "(no serverInfo)"
        report.add("initialize", True, f"serverInfo {name}, protocol {client.protocol_version}")
        await run_checks(client, case, roots, report)


async def run_checks(client: Client, case: dict[str, Any], roots: Roots | None, report: Report) -> None:
    async def check(name: str, body) -> None:
        report.step = name
        try:
            ok, detail = await body()
        except Exception as e:
            ok, detail = False, describe(e)
        report.add(name, ok, detail)

    async def tools_list():
        names: list[str] = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if not cursor:
                return judge_tools(case, names)

    async def prompts_list():
        return True, f"{len((await client.list_prompts()).prompts)} prompts"

    async def resources_list():
        return True, f"{len((await client.list_resources()).resources)} resources"

    async def tool_call():
        return judge_call(case["call"], await call_tool(client, case["call"]))

    async def tool_error():
        return judge_error_call(case["error_call"], await call_tool(client, case["error_call"]))

    await check("tools/list", tools_list)
    if case.get("list_prompts"):
        await check("prompts/list", prompts_list)
    if case.get("list_resources"):
        await check("resources/list", resources_list)

    # The server fetches the roots after `initialized`, asynchronously: wait
    # for them before the calls, which may depend on them.
    roots_case = case.get("roots")
    if roots_case:
        report.step = "roots"
        try:
            initial = await poll_call(client, roots_case["call"], roots_case["expect_initial"])
        except Exception as e:
            initial = (False, describe(e))

    if case.get("call"):
        await check("tools/call", tool_call)
    if case.get("error_call"):
        await check("tool error", tool_error)

    async def roots_change():
        before, after = roots_case["expect_initial"], roots_case["expect_changed"]
        ok, text = initial
        if not ok:
            return False, f"initial roots: text lacks {before!r}: {short(text)}"
        roots.current = roots_case["changed"]
        await client.send_roots_list_changed()
        ok, text = await poll_call(client, roots_case["call"], after)
        if not ok:
            return False, f"after roots/list_changed: text lacks {after!r}: {short(text)}"
        return True, f"roots followed: {before}, then {after} after roots/list_changed"

    if roots_case:
        await check("roots", roots_change)


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: client.py CASE.json", file=sys.stderr)
        return 2
    try:
        case = json.loads(Path(sys.argv[1]).read_text())
    except (OSError, ValueError) as e:
        log(f"cannot read the case: {e}")
        return 2
    report = Report(f"python-sdk {importlib.metadata.version('mcp')}")

    def watchdog() -> None:
        report.add("timeout", False, f"no result within {TOTAL_TIMEOUT:.0f} s, in {report.step}")
        report.emit()
        os._exit(1)

    timer = threading.Timer(TOTAL_TIMEOUT, watchdog)
    timer.daemon = True
    timer.start()

    async def bounded() -> None:
        with anyio.move_on_after(TOTAL_TIMEOUT - CLEANUP_MARGIN) as scope:
            await run(case, report)
        if scope.cancelled_caught:
            limit = TOTAL_TIMEOUT - CLEANUP_MARGIN
            report.add("timeout", False, f"checks unfinished after {limit:.0f} s, in {report.step}")

    try:
        anyio.run(bounded)
    except BaseException as e:  # a transport failing while it closes, say
        report.add("driver", False, describe(e))
    timer.cancel()
    report.emit()
    return 0 if report.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
