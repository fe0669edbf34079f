// Interop driver: the official MCP TypeScript SDK against one of our servers.
//
//   node client.mjs CASE.json
//
// Node resolves the SDK from the node_modules beside this file, so it runs
// from the npm prefix it was installed into: `cargo xtask interop` copies the
// .mjs files into target/peers/interop/, next to package.json and node_modules.
//
// Runs the checks the case asks for and prints one JSON line on stdout:
// {"client": "typescript-sdk X.Y.Z", "checks": [{"name", "ok", "detail"}, ...]}.
// Exit status 0 when no check failed, 1 otherwise. Diagnostics (and a stdio
// server's stderr) go to stderr. The case format is in README.md.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

import {
  Report,
  judgeCall,
  judgeErrorCall,
  judgeTools,
  readCase,
  requestedChecks,
  rootsOf,
  short,
  texts,
} from "./common.mjs";

const SCRIPT = "client.mjs";
const TOTAL_TIMEOUT_MS = 29_000; // from process start; the watchdog reports and exits then
const ROOTS_POLL_MS = 5_000; // how long the server may take to re-fetch the roots
const ROOTS_INTERVAL_MS = 200;

const log = (message) => console.error(`${SCRIPT}: ${message}`);

// One line on an error; McpError's message already reads "MCP error CODE: message".
const describe = (error) => short(error instanceof Error ? error.message : String(error), 300);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The version of the installed package `name` that `specifier` resolves into. */
function packageVersion(specifier, name) {
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (manifest.name === name) return manifest.version;
    } catch {
      // no package.json here: keep climbing
    }
    const parent = dirname(dir);
    if (parent === dir) return "unknown";
    dir = parent;
  }
}

/** Kill the server process of a stdio transport, if it still runs. */
function killServer(transport) {
  try {
    if (transport?.pid) process.kill(transport.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function transportFor(testCase) {
  switch (testCase.transport ?? "stdio") {
    case "stdio": {
      const [command, ...args] = testCase.command;
      return new StdioClientTransport({ command, args, stderr: "inherit" });
    }
    case "http":
      return new StreamableHTTPClientTransport(new URL(testCase.url));
    case "sse":
      return new SSEClientTransport(new URL(testCase.url));
    default:
      throw new Error(`unknown transport ${JSON.stringify(testCase.transport)}`);
  }
}

const callTool = (client, call) => client.callTool({ name: call.name, arguments: call.arguments ?? {} });

/** Repeat the call until it succeeds with `expect` in its text (up to ROOTS_POLL_MS). */
async function pollCall(client, call, expect) {
  const deadline = Date.now() + ROOTS_POLL_MS;
  for (;;) {
    const result = await callTool(client, call);
    const text = texts(result);
    if (!result.isError && text.includes(expect)) return { ok: true, text };
    if (Date.now() >= deadline) return { ok: false, text };
    await sleep(ROOTS_INTERVAL_MS);
  }
}

async function run(testCase, report, transport) {
  const rootsCase = testCase.roots;
  const roots = { current: rootsCase?.initial ?? [] };

  // Roots are advertised only for a roots case: a server that takes its
  // allowed directories from the roots would otherwise swap them.
  const client = new Client(
    { name: "mcp-servers-interop", version: "0" },
    { capabilities: rootsCase ? { roots: { listChanged: true } } : {} },
  );
  if (rootsCase) {
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: rootsOf(roots.current) }));
  }

  // The SDK keeps the negotiated version to itself, but hands it to the
  // transport (the HTTP ones send it as a header): note it on the way.
  let protocol = "unknown";
  const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (version) => {
    protocol = version;
    setProtocolVersion?.(version);
  };

  try {
    await client.connect(transport);
  } catch (error) {
    report.add("initialize", false, describe(error));
    for (const name of requestedChecks(testCase)) report.add(name, false, "not run: no session");
    await transport.close().catch(() => {});
    return;
  }
  const info = client.getServerVersion();
  report.add("initialize", true, `serverInfo ${info?.name} ${info?.version}, protocol ${protocol}`);

  try {
    await runChecks(client, testCase, roots, report);
  } finally {
    if (transport instanceof StreamableHTTPClientTransport) {
      await transport.terminateSession().catch((error) => log(`DELETE of the session: ${describe(error)}`));
    }
    await client.close().catch((error) => log(`close: ${describe(error)}`));
  }
}

async function runChecks(client, testCase, roots, report) {
  const check = async (name, body) => {
    report.step = name;
    let ok, detail;
    try {
      [ok, detail] = await body();
    } catch (error) {
      [ok, detail] = [false, describe(error)];
    }
    report.add(name, ok, detail);
  };

  await check("tools/list", async () => {
    const names = [];
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      names.push(...page.tools.map((tool) => tool.name));
      cursor = page.nextCursor;
    } while (cursor);
    return judgeTools(testCase, names);
  });

  if (testCase.list_prompts) {
    await check("prompts/list", async () => [true, `${(await client.listPrompts()).prompts.length} prompts`]);
  }
  if (testCase.list_resources) {
    await check("resources/list", async () => [true, `${(await client.listResources()).resources.length} resources`]);
  }

  // The server fetches the roots after `initialized`, asynchronously: wait
  // for them before the calls, which may depend on them.
  const rootsCase = testCase.roots;
  let initial;
  if (rootsCase) {
    report.step = "roots";
    initial = await pollCall(client, rootsCase.call, rootsCase.expect_initial).catch((error) => ({
      ok: false,
      text: describe(error),
    }));
  }

  if (testCase.call) {
    await check("tools/call", async () => judgeCall(testCase.call, await callTool(client, testCase.call)));
  }
  if (testCase.error_call) {
    const call = testCase.error_call;
    await check("tool error", async () => judgeErrorCall(call, await callTool(client, call)));
  }

  if (rootsCase) {
    await check("roots", async () => {
      const { expect_initial: before, expect_changed: after } = rootsCase;
      if (!initial.ok) return [false, `initial roots: text lacks ${JSON.stringify(before)}: ${short(initial.text)}`];
      roots.current = rootsCase.changed;
      await client.sendRootsListChanged();
      const { ok, text } = await pollCall(client, rootsCase.call, after);
      if (!ok) return [false, `after roots/list_changed: text lacks ${JSON.stringify(after)}: ${short(text)}`];
      return [true, `roots followed: ${before}, then ${after} after roots/list_changed`];
    });
  }
}

async function main() {
  const testCase = readCase(SCRIPT);
  const sdk = "@modelcontextprotocol/sdk";
  const report = new Report(SCRIPT, `typescript-sdk ${packageVersion(`${sdk}/client/index.js`, sdk)}`);

  process.on("unhandledRejection", (error) => log(`unhandled rejection: ${describe(error)}`));
  let transport;
  setTimeout(() => {
    report.add("timeout", false, `no result within ${TOTAL_TIMEOUT_MS / 1000} s, in ${report.step}`);
    killServer(transport);
    report.finish();
  }, TOTAL_TIMEOUT_MS - process.uptime() * 1000);

  try {
    transport = transportFor(testCase);
    await run(testCase, report, transport);
  } catch (error) {
    report.add("driver", false, describe(error));
  }
  report.finish();
}

main();
