// Interop driver: the MCP Inspector's CLI mode against one of our servers.
//
//   node inspector.mjs CASE.json
//
// Each check is one run of `mcp-inspector --cli --format json ... --method M`
// (a fresh connection each time), using the Inspector installed in the
// node_modules beside this file: `cargo xtask interop` copies it into
// target/peers/interop/, next to package.json and node_modules. The Inspector
// runs on the same node as this script, with HOME set to an empty temporary
// directory so that no stored Inspector state (OAuth tokens, catalog) is
// read or written.
//
// Prints one JSON line on stdout, as client.mjs does. For a roots case the
// Inspector gets the initial roots from a server config file; the roots check
// then reports "not supported" (ok: null) once the initial roots work, since a
// CLI run cannot change its roots within its session.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { Report, judgeCall, judgeErrorCall, judgeTools, readCase, rootsOf, short, texts } from "./common.mjs";

const SCRIPT = "inspector.mjs";
const TOTAL_TIMEOUT_MS = 30_000; // whole run
const STEP_TIMEOUT_MS = 15_000; // one Inspector run
const NOT_SUPPORTED = "not supported by this client";

const log = (message) => console.error(`${SCRIPT}: ${message}`);

const require = createRequire(import.meta.url);
const manifestPath = require.resolve("@modelcontextprotocol/inspector/package.json");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const launcher = join(dirname(manifestPath), manifest.bin["mcp-inspector"]);

/**
 * The Inspector arguments that name the server of a case. A roots case needs
 * a server config file (written into `home`), the only place the CLI takes
 * roots from; roots are a handshake-era feature, hence the legacy era.
 */
function targetArgs(testCase, home) {
  const transport = testCase.transport ?? "stdio";
  if (!["stdio", "http", "sse"].includes(transport)) throw new Error(`unknown transport ${JSON.stringify(transport)}`);
  if (!testCase.roots) {
    if (transport === "stdio") return ["--", ...testCase.command];
    return ["--transport", transport, "--server-url", testCase.url];
  }
  const [command, ...args] = testCase.command ?? [];
  const server = transport === "stdio" ? { type: "stdio", command, args } : { type: transport, url: testCase.url };
  server.roots = rootsOf(testCase.roots.initial);
  const config = join(home, "servers.json");
  writeFileSync(config, JSON.stringify({ mcpServers: { server } }));
  return ["--config", config, "--server", "server", "--protocol-era", "legacy"];
}

/**
 * One Inspector CLI run, its stderr passed through. Resolves to {code, result,
 * error}: `result` is the `result` of its JSON output on stdout, `error` the
 * `error` of the envelope it prints on stderr when the run fails.
 */
function inspect(target, home, deadline, methodArgs) {
  const args = [launcher, "--cli", "--format", "json", ...methodArgs, ...target];
  const timeout = Math.max(1, Math.min(STEP_TIMEOUT_MS, deadline - Date.now()));
  log(`mcp-inspector ${args.slice(1).join(" ")}`);
  return new Promise((resolve) => {
    // Its own process group, so that a timeout kills a stdio server with it.
    const child = spawn(process.execPath, args, {
      detached: true,
      // No OS keychain here: keep (no) secrets in memory, without a warning.
      env: { ...process.env, HOME: home, MCP_INSPECTOR_SECRET_STORE: "memory" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => killGroup(child.pid), timeout);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, error: { message: error.message } });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal) {
        resolve({ code, error: { message: `killed (${signal}) after ${timeout} ms` } });
        return;
      }
      resolve({ code, result: jsonField(stdout, "result"), error: jsonField(stderr, "error") });
    });
  });
}

function killGroup(pid) {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** `field` of the last line of `output` that is a JSON object having it. */
function jsonField(output, field) {
  let found;
  for (const line of output.split("\n")) {
    try {
      const value = JSON.parse(line);
      if (value && typeof value === "object" && field in value) found = value[field];
    } catch {
      // not a JSON line
    }
  }
  return found;
}

/** What a failed run said. */
function failure(run) {
  const error = run.error ? `${run.error.code ?? "error"}: ${run.error.message}` : "no result";
  return `exit ${run.code}: ${error}`;
}

/** The result of a run that should succeed; throws with what went wrong. */
function expectResult(run) {
  if (run.code === 0 && run.result !== undefined) return run.result;
  throw new Error(failure(run));
}

/**
 * The result of a tools/call run. An isError result is printed as the result
 * all the same (the run then exits 5, "tool_is_error"); a JSON-RPC error
 * leaves no result at all.
 */
function toolResult(run) {
  if (run.result !== undefined) return run.result;
  throw new Error(failure(run));
}

async function runChecks(testCase, report) {
  const home = mkdtempSync(join(tmpdir(), "mcp-interop-inspector-"));
  const deadline = Date.now() + TOTAL_TIMEOUT_MS - 2_000;
  let target;
  const inspector = (...methodArgs) => inspect(target, home, deadline, methodArgs);
  const check = async (name, body) => {
    let ok, detail;
    if (Date.now() >= deadline) {
      [ok, detail] = [false, "not run: out of time"];
    } else {
      try {
        [ok, detail] = await body();
      } catch (error) {
        [ok, detail] = [false, error.message];
      }
    }
    report.add(name, ok, detail);
  };
  const toolCall = (call) => {
    const args = JSON.stringify(call.arguments ?? {});
    return inspector("--method", "tools/call", "--tool-name", call.name, "--tool-args-json", args);
  };

  try {
    target = targetArgs(testCase, home);
    let capabilities; // from a successful initialize
    await check("initialize", async () => {
      const result = expectResult(await inspector("--method", "initialize"));
      capabilities = result.capabilities ?? {};
      const info = result.serverInfo ?? {};
      return [true, `serverInfo ${info.name} ${info.version}, protocol ${result.protocolVersion}`];
    });

    await check("tools/list", async () => {
      const result = expectResult(await inspector("--method", "tools/list"));
      return judgeTools(testCase, result.tools.map((tool) => tool.name));
    });

    // The Inspector lists no prompts or resources, without asking, from a
    // server that does not advertise them; the SDKs ask and get an error.
    const list = async (kind) => {
      if (!capabilities) return [false, "not run: initialize failed"];
      if (!capabilities[kind]) return [false, `the server does not advertise ${kind}`];
      const result = expectResult(await inspector("--method", `${kind}/list`));
      return [true, `${result[kind].length} ${kind}`];
    };
    if (testCase.list_prompts) await check("prompts/list", () => list("prompts"));
    if (testCase.list_resources) await check("resources/list", () => list("resources"));

    if (testCase.call) {
      await check("tools/call", async () => judgeCall(testCase.call, toolResult(await toolCall(testCase.call))));
    }
    if (testCase.error_call) {
      await check("tool error", async () =>
        judgeErrorCall(testCase.error_call, toolResult(await toolCall(testCase.error_call))),
      );
    }

    if (testCase.roots) {
      // Initial roots only: each run is a session of its own, whose roots the
      // CLI cannot change (no roots/list_changed to check).
      const { call, expect_initial: expected } = testCase.roots;
      await check("roots", async () => {
        const text = texts(toolResult(await toolCall(call)));
        if (!text.includes(expected)) {
          return [false, `initial roots: text lacks ${JSON.stringify(expected)}: ${short(text)}`];
        }
        return [null, `${NOT_SUPPORTED}: initial roots ok (${expected}), but a CLI run cannot change its roots`];
      });
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function main() {
  const testCase = readCase(SCRIPT);
  const report = new Report(SCRIPT, `inspector-cli ${manifest.version}`);
  runChecks(testCase, report)
    .catch((error) => report.add("driver", false, error.message))
    .finally(() => report.finish());
}

main();
