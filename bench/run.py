#!/usr/bin/env python3
"""`make bench`: keymint against the HTTP floor and a real OAuth server, on this machine.

keymint's OAuth 2.0 dialect and the peer (oidc-provider) answer the same client credentials
grant, with HTTP Basic, the same scopes and the same signing algorithm (ES256 and RS256 each).

The servers run pinned to core 0 with one worker, wrk runs pinned to core 1. Scenarios are
measured in alternating rounds (A B C ... A B C ...) so machine drift spreads over all of them;
each cell of the table is the median round. The table goes to stdout and to bench/results.md.

Environment: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS
(default 32), CARGO_TARGET_DIR (where cargo put the release keymint and criterion's results;
target/ by default). Before each run the servers are let settle (the last run's audit writes
done), as they share one core. BENCH_BASELINE names another keymint binary (say, a release build
of the commit before a change): its floor, HS256 issuance and forward-auth join the same
alternating rounds, so a change is judged by ratios from one run.
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
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As cargo reads it: a relative directory is relative to where make runs, the repository.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target").resolve()
BIN = TARGET / "release" / "keymint"
BASELINE = os.environ.get("BENCH_BASELINE")
PEER = ROOT / "bench" / "peer"
SERVER_CORE, LOAD_CORE = "0", "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
UNLIMITED = "1000000000/1s"
# HS256 issuance again with --audit durable (the default), beside the buffered row.
DURABLE = "Volubile issuance, HS256, --audit durable"
# The client credentials grant both OAuth servers answer: the same body, the same scopes.
GRANT = "grant_type=client_credentials&scope=calls%3Aread%20agents%3Aread"
# keymint instances: the name, then `--signing-alg` and any other flags. The OAuth 2.0 dialect
# signs with --published-signing-alg, so ES256 serves Volubile and OAuth with ES256 and RS256
# serves OAuth with RS256 (and Volubile with HS256, which no row asks it for).
# Every row but one runs with buffered audit, as the rows before durable audit (the default
# since) did, so that their targets and history still compare; one row measures durable audit
# (every token answered only once its audit event is committed, by group commit).
BUFFERED = ["--audit", "buffered"]
INSTANCES = {
    "HS256": ["HS256", *BUFFERED],
    "ES256": ["ES256", "--published-signing-alg", "ES256", *BUFFERED],
    "EdDSA": ["EdDSA", *BUFFERED],
    "RS256": ["HS256", "--published-signing-alg", "RS256", *BUFFERED],
    "HS256-1M": ["HS256", *BUFFERED],
    "HS256-durable": ["HS256", "--audit", "durable"],
}
# The peers: oidc-provider with a key of each algorithm.
PEER_ALGS = ("ES256", "RS256")


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
    # Those not stopped yet, stopped on the way out if a check ends the run early.
    running = []

    def __init__(self, name, argv, ready_url, env=None):
        self.name = name
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        Server.running.append(self)
        wait_http(ready_url)

    def peak_rss_mb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        Server.running.remove(self)


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
    """A database with `accounts` accounts (two keys each); returns the first primary key, its
    `id` (the OAuth `client_id`) and `secret` (the API key, the `client_secret`)."""
    first = None
    for i in range(accounts):
        created = json.loads(keymint(["accounts", "create", f"bench{i}", "--json"], path, binary).stdout)
        first = first or created["keys"][0]
    return {"id": first["id"], "secret": first["secret"]}


def basic(client_id, secret):
    """`client_secret_basic` (RFC 6749 §2.3.1): each half form-urlencoded, then Base64."""
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def token_alg(url, headers, body):
    """The `alg` in the header of the access token one grant gets, so that a row is known to
    measure the algorithm it names."""
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    token = json.loads(urllib.request.urlopen(request, timeout=10).read())["access_token"]
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"]


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


def commit_group(url):
    """How many requests one audit commit released on average, from the instance's /metrics."""
    text = urllib.request.urlopen(url + "/metrics").read().decode()
    counter = lambda name: float(re.search(rf"^keymint_{name}_total (\S+)$", text, re.M).group(1))
    commits = counter("audit_commits")
    return counter("audit_committed_events") / commits if commits else float("nan")


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


def criterion_means():
    """The criterion results of `cargo bench --bench tokens` (run first by `make bench`): each
    benchmark's full id and mean time in ns, from <target>/criterion/<group>/<id>/new/."""
    means = {}
    for path in sorted((TARGET / "criterion").glob("**/new/benchmark.json")):
        meta = json.loads(path.read_text())
        estimates = json.loads((path.parent / "estimates.json").read_text())
        means[meta["full_id"]] = estimates["mean"]["point_estimate"]
    return means


def micro_benchmarks(means):
    rows = sorted(means.items())
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
        for server in list(Server.running):
            server.stop()
        # The 1M-key database alone is half a gigabyte.
        shutil.rmtree(work, ignore_errors=True)


def measure(work):
    dbs = {name: f"{work}/{name}.db" for name in INSTANCES}
    keys = {name: make_database(path) for name, path in dbs.items()}
    million = add_million_keys(dbs["HS256-1M"])

    servers, urls = {}, {}
    for name, (alg, *flags) in INSTANCES.items():
        servers[name], urls[name] = start_keymint(alg, dbs[name], *flags)
    # The same database, secret and issuer as the HS256 instance (whose tokens it checks), with
    # the verified-token cache off.
    servers["nocache"], urls["nocache"] = start_keymint(
        "HS256", dbs["HS256"], "--token-cache", "0", "--issuer", urls["HS256"], *BUFFERED)
    for alg in PEER_ALGS:
        peer_port = free_port()
        servers[f"peer-{alg}"] = Server(
            f"oidc-provider-{alg}", ["node", str(PEER / "provider.mjs"), str(peer_port), alg],
            f"http://127.0.0.1:{peer_port}/.well-known/openid-configuration",
        )
        urls[f"peer-{alg}"] = f"http://127.0.0.1:{peer_port}"

    body = '{"scope":["calls:read","agents:read"]}'

    def verify_script(name, instance, *checkers):
        """A forward-auth request carrying a token the instance issued, after one request shows
        that the instance and the other `checkers` accept it."""
        token = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{urls[instance]}/v1/auth/token", data=body.encode(),
            headers={"X-Api-Key": keys[instance]["secret"], "Content-Type": "application/json"},
        )).read())["token"]
        headers = {"Authorization": f"Bearer {token}", "X-Original-Method": "GET", "X-Original-URI": "/v1/calls/7"}
        for checker in (instance, *checkers):
            try:
                urllib.request.urlopen(urllib.request.Request(urls[checker] + "/forward-auth", headers=headers))
            except urllib.error.HTTPError as refused:
                sys.exit(f"forward-auth at {checker} refuses {instance}'s token: {refused.code}")
        return wrk_script(work, name, "GET", headers)

    verify = verify_script("verify", "HS256", "nocache")
    issue = lambda alg: wrk_script(work, f"issue-{alg}", "POST", {
        "X-Api-Key": keys[alg]["secret"], "Content-Type": "application/json"}, body)

    def grant(name, owner, path, client_id, secret, alg):
        """A client credentials grant with Basic, after one request shows the token is `alg`."""
        url, headers = urls[owner] + path, {
            "Authorization": basic(client_id, secret), "Content-Type": "application/x-www-form-urlencoded",
        }
        got = token_alg(url, headers, GRANT)
        if got != alg:
            sys.exit(f"{name}: {url} signs {got}, not {alg}")
        return (name, url, wrk_script(work, f"grant-{owner}", "POST", headers, GRANT), owner)

    oauth = lambda alg: grant(f"OAuth issuance, {alg}", alg, "/oauth2/token",
                              keys[alg]["id"], keys[alg]["secret"], alg)
    peer = lambda alg: grant(f"peer: oidc-provider, {alg} JWT", f"peer-{alg}", "/token",
                             "bench", "bench-secret", alg)
    big = f"HS256 issuance, {million:,} keys"
    scenarios = [
        ("floor (GET /healthz)", urls["HS256"] + "/healthz", wrk_script(work, "floor", "GET", {}), "HS256"),
        ("Volubile issuance, HS256", urls["HS256"] + "/v1/auth/token", issue("HS256"), "HS256"),
        (DURABLE, urls["HS256-durable"] + "/v1/auth/token", issue("HS256-durable"), "HS256-durable"),
        ("Volubile issuance, ES256", urls["ES256"] + "/v1/auth/token", issue("ES256"), "ES256"),
        ("Volubile issuance, EdDSA", urls["EdDSA"] + "/v1/auth/token", issue("EdDSA"), "EdDSA"),
        ("forward-auth, HS256 bearer", urls["HS256"] + "/forward-auth", verify, "HS256"),
        (big, urls["HS256-1M"] + "/v1/auth/token", issue("HS256-1M"), "HS256-1M"),
        ("forward-auth, token cache off", urls["nocache"] + "/forward-auth", verify, "nocache"),
        oauth("ES256"),
        oauth("RS256"),
        peer("ES256"),
        peer("RS256"),
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

    durable_group = commit_group(urls["HS256-durable"])
    cold = cold_start_ms(dbs["HS256"], keys["HS256"]["secret"])
    rss = {alg: server.peak_rss_mb() for alg, server in servers.items()}
    served = {alg: sum(r["requests"] for (n, _, _, a) in scenarios if a == alg for r in results[n]) for alg in servers}
    for server in servers.values():
        server.stop()

    median = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
    rps = lambda name: median[name]["rps"]
    floor, hs, es, ed = (rps(n) for n in (
        "floor (GET /healthz)", "Volubile issuance, HS256", "Volubile issuance, ES256", "Volubile issuance, EdDSA"))
    verify, nocache = rps("forward-auth, HS256 bearer"), rps("forward-auth, token cache off")
    oauth_es, oauth_rs = rps("OAuth issuance, ES256"), rps("OAuth issuance, RS256")
    peer_es, peer_rs = rps("peer: oidc-provider, ES256 JWT"), rps("peer: oidc-provider, RS256 JWT")
    rows = []
    for name, _, _, owner in scenarios:
        cell = median[name]
        rows.append(f"| {name} | {cell['rps']:,.0f} | {cell['p50']:.2f} | {cell['p99']:.2f} | "
                    f"{sum(r['non2xx'] for r in results[name])} | {rss[owner]:.1f} |")
    ratios = [
        ("HS256 issuance / floor", hs / floor, ">= 0.75"),
        ("forward-auth / floor", verify / floor, ">= 0.85"),
        ("forward-auth, cache off / floor", nocache / floor, "(no target)"),
        ("ES256 issuance / peer (ES256)", es / peer_es, ">= 10"),
        ("EdDSA issuance / floor", ed / floor, ">= 0.4"),
        ("HS256 issuance, 1M keys / 10 keys", rps(big) / hs, ">= 0.9"),
        ("HS256 issuance, --audit durable / buffered", rps(DURABLE) / hs, ">= 0.5"),
        ("OAuth ES256 / peer (ES256)", oauth_es / peer_es, ">= 10"),
        ("OAuth RS256 / peer (RS256)", oauth_rs / peer_rs, ">= 3"),
    ]
    means = criterion_means()
    rsa = means.get("issue: claims + sign/RS256")
    signer = []
    if rsa:
        # The server has one core: what RSA signing alone allows it, by criterion.
        ceiling = 1e9 / rsa
        ratios.append(("OAuth RS256 / RS256 signer's ceiling", oauth_rs / ceiling, "(no target)"))
        signer = [
            f"RS256 signer's ceiling: 1 / {rsa / 1000:,.1f} µs (criterion, `issue: claims + sign/RS256`) = "
            f"{ceiling:,.0f} tokens/s on the server's one core; OAuth RS256 reaches {oauth_rs / ceiling:.2f} "
            f"of it.",
            "",
        ]
    if BASELINE:
        old_floor, old_hs, old_verify = (rps(f"baseline: {n}") for n in (
            "floor", "Volubile issuance, HS256", "forward-auth, HS256 bearer"))
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
        f"{SECONDS} s (median shown) · keymint as deployed: quotas, audit trail (buffered but in the "
        f"row that says durable), metrics, request ids, default log level"
        + (f" · baseline: `{BASELINE}`" if BASELINE else "") + "\n",
        "| scenario | req/s | p50 ms | p99 ms | non-2xx | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "| ratio | measured | target |",
        "|---|---:|---|",
        *[f"| {label} | {value:.2f} | {target} |" for label, value, target in ratios],
        "",
        f"HS256 issuance with --audit durable: p99 {median[DURABLE]['p99']:.2f} ms at {CONNECTIONS} "
        f"connections (target < 5 ms), {rps(DURABLE) / hs:.2f} of buffered's throughput; one commit "
        f"released {durable_group:.1f} requests on average (keymint_audit_committed_events_total / "
        f"keymint_audit_commits_total).",
        "",
        f"Cold start to first token: {cold:.0f} ms (median of 5; target < 200 ms). "
        f"Requests served by the HS256 instance: {served['HS256']:,} (peak RSS above).",
        "",
        *signer,
        *micro_benchmarks(means),
    ])
    print(table)
    (ROOT / "bench" / "results.md").write_text(table)


if __name__ == "__main__":
    main()
