#!/usr/bin/env python3
"""`make bench`: keymint against the HTTP floor and a real OAuth server, on this machine.

The servers run pinned to core 0 with one worker, wrk runs pinned to core 1. Scenarios are
measured in alternating rounds (A B C ... A B C ...) so machine drift spreads over all of them;
each cell of the table is the median round. The table goes to stdout and to bench/results.md.

Environment: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS
(default 32). Before each run the servers are let settle (the last run's audit writes done), as
they share one core. BENCH_BASELINE names another keymint binary (say, a release build of the commit
before a change): its floor, HS256 issuance and forward-auth join the same alternating rounds,
so a change is judged by ratios from one run.
"""

import base64
import datetime
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "keymint"
BASELINE = os.environ.get("BENCH_BASELINE")
PEER = ROOT / "bench" / "peer"
SERVER_CORE, LOAD_CORE = "0", "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
UNLIMITED = "1000000000/1s"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.02)
    sys.exit(f"{url} did not come up")


def keymint(args, db, binary=BIN, **kw):
    env = {**os.environ, "KEYMINT_DATABASE_URL": f"sqlite://{db}", "RUST_LOG": os.environ.get("RUST_LOG", "info")}
    return subprocess.run([str(binary), *args], env=env, check=True, capture_output=True, text=True, **kw)


class Server:
    def __init__(self, name, argv, ready_url, env=None):
        self.name = name
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(ready_url)

    def peak_rss_mb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def cpu_ticks(pids):
    """User and system CPU time the processes have used so far, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def settle(servers, timeout=10.0):
    """Waits until every server is idle (under a tenth of a core over 200 ms): all are pinned to
    one core, so one still writing the audit trail of the last scenario would slow the next."""
    pids = [server.proc.pid for server in servers.values()]
    deadline = time.time() + timeout
    before = cpu_ticks(pids)
    while time.time() < deadline:
        time.sleep(0.2)
        after = cpu_ticks(pids)
        if after - before < max(2, os.sysconf("SC_CLK_TCK") // 50):
            return
        before = after


def start_keymint(alg, db, *extra, binary=BIN):
    port = free_port()
    argv = [
        str(binary), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--signing-alg", alg, "--rate-limit", UNLIMITED, "--failed-auth-limit", UNLIMITED, *extra,
    ]
    env = {"KEYMINT_DATABASE_URL": f"sqlite://{db}", "RUST_LOG": os.environ.get("RUST_LOG", "info")}
    server = Server(f"keymint-{alg}", argv, f"http://127.0.0.1:{port}/healthz", env)
    return server, f"http://127.0.0.1:{port}"


def make_database(path, accounts=5, binary=BIN):
    """A database with `accounts` accounts (two keys each); returns the first primary key."""
    first = None
    for i in range(accounts):
        created = json.loads(keymint(["accounts", "create", f"bench{i}", "--json"], path, binary).stdout)
        first = first or created["keys"][0]["secret"]
    return first


def add_million_keys(path):
    """Pads the store to 1,000,000 keys with rows of the real shape (random ids and hashes)."""
    db = sqlite3.connect(path)
    (account_id,) = db.execute("SELECT id FROM accounts LIMIT 1").fetchone()
    have = db.execute("SELECT count(*) FROM api_keys").fetchone()[0]
    rows = (
        (
            base64.b32encode(os.urandom(10)).decode()[:11],
            account_id,
            os.urandom(32),
            "2026-01-01T00:00:00+00:00",
            "2026-01-01T00:00:00+00:00",
        )
        for _ in range(1_000_000 - have)
    )
    db.executemany(
        "INSERT OR IGNORE INTO api_keys (id, account_id, slot, hash, created_at, revoked_at)"
        " VALUES (?, ?, 'primary', ?, ?, ?)",
        rows,
    )
    db.commit()
    total = db.execute("SELECT count(*) FROM api_keys").fetchone()[0]
    db.close()
    return total


def wrk_script(directory, name, method, headers, body=None):
    lines = [f'wrk.method = "{method}"']
    for key, value in headers.items():
        lines.append(f'wrk.headers["{key}"] = "{value}"')
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    path = Path(directory) / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_latency(text):
    number = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(number.group(1)) * UNIT[number.group(2)]


def run_wrk(url, script):
    out = subprocess.run(
        ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s",
         "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "requests": requests}


def cold_start_ms(db, key, trials=5):
    """From process start to the first token, on an existing database."""
    times = []
    body = json.dumps({"scope": ["calls:read"]}).encode()
    for _ in range(trials):
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(BIN), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env={**os.environ, "KEYMINT_DATABASE_URL": f"sqlite://{db}", "RUST_LOG": os.environ.get("RUST_LOG", "info")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/v1/auth/token", data=body,
                    headers={"X-Api-Key": key, "Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=1) as response:
                    if response.status == 200:
                        break
            except Exception:
                time.sleep(0.002)
        times.append((time.perf_counter() - started) * 1000)
        proc.terminate()
        proc.wait()
    return statistics.median(times)


def micro_benchmarks():
    """The criterion results of `cargo bench --bench tokens` (run first by `make bench`)."""
    rows = []
    for path in sorted((ROOT / "target" / "criterion").glob("**/new/benchmark.json")):
        meta = json.loads(path.read_text())
        estimates = json.loads((path.parent / "estimates.json").read_text())
        mean_ns = estimates["mean"]["point_estimate"]
        rows.append((meta["full_id"], mean_ns))
    if not rows:
        return []
    unit = lambda ns: f"{ns / 1000:,.2f} µs" if ns >= 1000 else f"{ns:,.0f} ns"
    return [
        "Per-step costs (criterion, `benches/tokens.rs`, mean of one call; the jsonwebtoken rows "
        "parse the key on every call, which is why keymint signs with keys parsed once):",
        "",
        "| step | time |",
        "|---|---:|",
        *[f"| {name} | {unit(ns)} |" for name, ns in rows],
        "",
    ]


def machine():
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}, Linux {platform.release()}"


def main():
    work = tempfile.mkdtemp(prefix="keymint-bench-")
    try:
        measure(work)
    finally:
        # The 1M-key database alone is half a gigabyte.
        shutil.rmtree(work, ignore_errors=True)


def measure(work):
    dbs = {alg: f"{work}/{alg}.db" for alg in ("HS256", "ES256", "EdDSA", "HS256-1M")}
    keys = {alg: make_database(path) for alg, path in dbs.items()}
    million = add_million_keys(dbs["HS256-1M"])

    servers, urls = {}, {}
    for alg, db in dbs.items():
        servers[alg], urls[alg] = start_keymint(alg.split("-")[0], db)
    # The same database and secret as the HS256 instance, with the verified-token cache off.
    servers["nocache"], urls["nocache"] = start_keymint("HS256", dbs["HS256"], "--token-cache", "0")
    peer_port = free_port()
    servers["peer"] = Server(
        "oidc-provider", ["node", str(PEER / "provider.mjs"), str(peer_port)],
        f"http://127.0.0.1:{peer_port}/.well-known/openid-configuration",
    )
    urls["peer"] = f"http://127.0.0.1:{peer_port}"

    body = '{"scope":["calls:read","agents:read"]}'

    def verify_script(name, instance):
        """A forward-auth request carrying a token the instance issued."""
        token = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{urls[instance]}/v1/auth/token", data=body.encode(),
            headers={"X-Api-Key": keys[instance], "Content-Type": "application/json"},
        )).read())["token"]
        return wrk_script(work, name, "GET", {
            "Authorization": f"Bearer {token}", "X-Original-Method": "GET", "X-Original-URI": "/v1/calls/7",
        })

    verify = verify_script("verify", "HS256")
    issue = lambda alg: wrk_script(work, f"issue-{alg}", "POST", {
        "X-Api-Key": keys[alg], "Content-Type": "application/json"}, body)
    scenarios = [
        ("floor (GET /healthz)", urls["HS256"] + "/healthz", wrk_script(work, "floor", "GET", {}), "HS256"),
        ("Volubile issuance, HS256", urls["HS256"] + "/v1/auth/token", issue("HS256"), "HS256"),
        ("Volubile issuance, ES256", urls["ES256"] + "/v1/auth/token", issue("ES256"), "ES256"),
        ("Volubile issuance, EdDSA", urls["EdDSA"] + "/v1/auth/token", issue("EdDSA"), "EdDSA"),
        ("forward-auth, HS256 bearer", urls["HS256"] + "/forward-auth", verify, "HS256"),
        (f"HS256 issuance, {million:,} keys", urls["HS256-1M"] + "/v1/auth/token", issue("HS256-1M"), "HS256-1M"),
        ("forward-auth, token cache off", urls["nocache"] + "/forward-auth", verify, "nocache"),
        ("peer: oidc-provider, ES256 JWT", urls["peer"] + "/token", wrk_script(work, "peer", "POST", {
            "Authorization": "Basic " + base64.b64encode(b"bench:bench-secret").decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        }, "grant_type=client_credentials&scope=calls%3Aread%20agents%3Aread"), "peer"),
    ]

    if BASELINE:
        db = f"{work}/baseline.db"
        keys["baseline"] = make_database(db, binary=BASELINE)
        servers["baseline"], urls["baseline"] = start_keymint("HS256", db, binary=BASELINE)
        old_verify = verify_script("verify-baseline", "baseline")
        scenarios += [
            ("baseline: floor", urls["baseline"] + "/healthz", wrk_script(work, "floor", "GET", {}), "baseline"),
            ("baseline: Volubile issuance, HS256", urls["baseline"] + "/v1/auth/token", issue("baseline"), "baseline"),
            ("baseline: forward-auth, HS256 bearer", urls["baseline"] + "/forward-auth", old_verify, "baseline"),
        ]

    results = {name: [] for name, *_ in scenarios}
    for name, url, script, _ in scenarios:  # warm-up, not counted
        subprocess.run(["taskset", "-c", LOAD_CORE, "wrk", "-t1", "-c8", "-d1s", "-s", str(script), url],
                       check=True, capture_output=True)
    for round_ in range(ROUNDS):
        for name, url, script, _ in scenarios:
            settle(servers)
            results[name].append(run_wrk(url, script))
            print(f"round {round_ + 1}/{ROUNDS}  {name:<38} {results[name][-1]['rps']:>10.0f} req/s", file=sys.stderr)

    cold = cold_start_ms(dbs["HS256"], keys["HS256"])
    rss = {alg: server.peak_rss_mb() for alg, server in servers.items()}
    served = {alg: sum(r["requests"] for (n, _, _, a) in scenarios if a == alg for r in results[n]) for alg in servers}
    for server in servers.values():
        server.stop()

    median = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
    m = lambda i: median[scenarios[i][0]]
    floor, hs, es, ed, verify, big, nocache, peer = (m(i)["rps"] for i in range(8))
    rows = []
    for name, _, _, owner in scenarios:
        cell = median[name]
        rows.append(f"| {name} | {cell['rps']:,.0f} | {cell['p50']:.2f} | {cell['p99']:.2f} | "
                    f"{sum(r['non2xx'] for r in results[name])} | {rss[owner]:.1f} |")
    ratios = [
        ("HS256 issuance / floor", hs / floor, ">= 0.75"),
        ("forward-auth / floor", verify / floor, ">= 0.85"),
        ("forward-auth, cache off / floor", nocache / floor, "(no target)"),
        ("ES256 issuance / peer (ES256)", es / peer, ">= 10"),
        ("EdDSA issuance / floor", ed / floor, ">= 0.4"),
        ("HS256 issuance, 1M keys / 10 keys", big / hs, ">= 0.9"),
    ]
    if BASELINE:
        old_floor, old_hs, old_verify = (m(i)["rps"] for i in range(8, 11))
        ratios += [
            ("baseline: HS256 issuance / floor", old_hs / old_floor, "(the same, within noise)"),
            ("baseline: forward-auth / floor", old_verify / old_floor, "(the same, within noise)"),
            ("HS256 issuance / baseline's", hs / old_hs, "(1.00, within noise)"),
            ("forward-auth / baseline's", verify / old_verify, "(1.00, within noise)"),
        ]
    table = "\n".join([
        f"# keymint benchmark\n",
        f"{datetime.date.today().isoformat()} · {machine()} · `make bench` · server on core {SERVER_CORE} "
        f"with 1 worker, wrk on core {LOAD_CORE}, {CONNECTIONS} connections, {ROUNDS} alternating rounds of "
        f"{SECONDS} s (median shown) · keymint as deployed: quotas, audit trail, metrics, request ids, "
        f"default log level"
        + (f" · baseline: `{BASELINE}`" if BASELINE else "") + "\n",
        "| scenario | req/s | p50 ms | p99 ms | non-2xx | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "| ratio | measured | target |",
        "|---|---:|---|",
        *[f"| {label} | {value:.2f} | {target} |" for label, value, target in ratios],
        "",
        f"Cold start to first token: {cold:.0f} ms (median of 5; target < 200 ms). "
        f"Requests served by the HS256 instance: {served['HS256']:,} (peak RSS above).",
        "",
        *micro_benchmarks(),
    ])
    print(table)
    (ROOT / "bench" / "results.md").write_text(table)


if __name__ == "__main__":
    main()
