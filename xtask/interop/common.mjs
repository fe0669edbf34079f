// What the Node drivers (client.mjs, inspector.mjs) share: the report they
// print and the verdicts on a tool listing and on tool results. client.py has
// the same rules in Python.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { pathToFileURL } from "node:url";

/** The case named on the command line (the usage line names `script`). */
export function readCase(script) {
  if (process.argv.length !== 3) {
    console.error(`usage: node ${script} CASE.json`);
    process.exit(2);
  }
  try {
    return JSON.parse(readFileSync(process.argv[2], "utf8"));
  } catch (error) {
    console.error(`${script}: cannot read the case: ${error.message}`);
    process.exit(2);
  }
}

/** The checks so far; printed once as the driver's one line on stdout. */
export class Report {
  constructor(script, client) {
    this.script = script;
    this.client = client;
    this.checks = [];
    this.step = "initialize"; // what a timeout interrupted
    this.printed = false;
  }

  /** `ok`: true, false, or null for "not run" (not supported by this client). */
  add(name, ok, detail) {
    this.checks.push({ name, ok, detail });
    const status = ok ? "ok" : ok === null ? "not run" : "FAILED";
    console.error(`${this.script}: ${name}: ${status}: ${detail}`);
  }

  /** Print the line, then exit 0 if no check failed, else 1. */
  finish() {
    if (this.printed) return;
    this.printed = true;
    const line = JSON.stringify({ client: this.client, checks: this.checks });
    const passed = this.checks.every((check) => check.ok !== false);
    process.stdout.write(line + "\n", () => process.exit(passed ? 0 : 1));
  }
}

/** The checks a case asks for after initialize, in order. */
export function requestedChecks(testCase) {
  return [
    ["tools/list", true],
    ["prompts/list", testCase.list_prompts],
    ["resources/list", testCase.list_resources],
    ["tools/call", testCase.call],
    ["tool error", testCase.error_call],
    ["roots", testCase.roots],
  ]
    .filter(([, asked]) => asked)
    .map(([name]) => name);
}

/** MCP roots for directory paths: `file://` URIs, named after the directory. */
export function rootsOf(paths) {
  return paths.map((path) => ({ uri: pathToFileURL(path).href, name: basename(path) || path }));
}

/** All text content of a tool result, one block per line. */
export function texts(result) {
  return (result.content ?? [])
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("\n");
}

export function short(text, limit = 120) {
  const flat = text.split(/\s+/).join(" ").trim();
  return flat.length <= limit ? flat : flat.slice(0, limit - 1) + "…";
}

/** [ok, detail] for a tools/list that returned `names`. */
export function judgeTools(testCase, names) {
  const missing = (testCase.expect_tools ?? []).filter((name) => !names.includes(name));
  if (missing.length) return [false, `${names.length} tools; missing ${missing.join(", ")}`];
  return [true, `${names.length} tools`];
}

/** [ok, detail] for the result of `case.call`: no isError, text has expect_text. */
export function judgeCall(call, result) {
  const text = texts(result);
  if (result.isError) return [false, `${call.name}: isError: ${short(text)}`];
  if (!text.includes(call.expect_text)) {
    return [false, `${call.name}: text lacks ${JSON.stringify(call.expect_text)}: ${short(text)}`];
  }
  return [true, `${call.name}: ${short(text)}`];
}

/** [ok, detail] for the result of `case.error_call`: isError, text has expect_text. */
export function judgeErrorCall(call, result) {
  const text = texts(result);
  if (!result.isError) return [false, `${call.name}: isError not set: ${short(text)}`];
  if (!text.includes(call.expect_text)) {
    return [false, `${call.name}: error text lacks ${JSON.stringify(call.expect_text)}: ${short(text)}`];
  }
  return [true, `${call.name}: isError: ${short(text)}`];
}
