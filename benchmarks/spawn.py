#!/usr/bin/env python3
"""Spawn benchmark: how much the hub adds to starting a JupyterLab server.

Against a kept hub (`python3 benchmarks/converge.py --keep` first), in one run
and alternating so that the machine's noise hits both series:
  hub   one user's server through nginx/TLS: from the POST
        /hub/api/users/<name>/server request until GET /user/<name>/api/status
        answers 200 through nginx; then stopped (until the hub says so)
  bare  the floor: `jupyter-lab` of the same environment started directly in
        the container as the same unprivileged account, token auth, from
        process start until its own /api/status answers
After one untimed start of each (the first spawn makes the account). Prints
one JSON line and a table: p50/p95 of each series, hub_p50 / bare_p50 (goal
<= 1.3, reported, not asserted), and each server's RSS 2 s after it answered.

  python3 benchmarks/spawn.py [--count 20] [--name hdfhub-bench] [--port 7443]
"""
import json
import statistics
import sys
import time

import benchlib

hubclient = benchlib.hubclient()

SETTLE_S = 2  # RSS is read this long after the server first answered
POLL_S = 0.1  # both series poll their server's status this often

# Starts `jupyter-lab` as ACCOUNT on loopback PORT; prints seconds from process
# start until /api/status answers, and the server's RSS SETTLE seconds later.
BARE = r"""
import json, os, pwd, subprocess, sys, time, uuid
import requests
account, port, env = sys.argv[1:4]
settle, poll = float(sys.argv[4]), float(sys.argv[5])
extra = dict(a.split("=", 1) for a in sys.argv[6:])
pw = pwd.getpwnam(account)
token = uuid.uuid4().hex
session = requests.Session()
session.trust_env = False
url = f"http://127.0.0.1:{port}/api/status"
start = time.monotonic()
proc = subprocess.Popen(
    [f"{env}/bin/jupyter-lab", "--no-browser", "--ip", "127.0.0.1", "--port", port,
     f"--IdentityProvider.token={token}"],
    user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], cwd=pw.pw_dir,
    env={"HOME": pw.pw_dir, "USER": account, "LANG": "C.UTF-8",
         "PATH": f"{env}/bin:/usr/bin:/bin", **extra},
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            if session.get(url, headers={"Authorization": f"token {token}"},
                           timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() - start > 300:
            sys.exit(f"jupyter-lab did not come up (exit {proc.returncode})")
        time.sleep(poll)
    ready = time.monotonic() - start
    time.sleep(settle)
    with open(f"/proc/{proc.pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    print(json.dumps({"ready_s": ready, "rss_kb": rss}))
finally:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
"""

# RSS (kB) of ACCOUNT's jupyterhub-singleuser process.
SERVER_RSS = r"""
import os, pwd, sys
uid = pwd.getpwnam(sys.argv[1]).pw_uid
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.stat(f"/proc/{pid}").st_uid != uid:
            continue
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"jupyterhub-singleuser" not in f.read():
                continue
        with open(f"/proc/{pid}/status") as f:
            print(next(l.split()[1] for l in f if l.startswith("VmRSS:")))
        break
    except (OSError, StopIteration):
        pass
"""


def hub_spawn(user, name, account, timeout=300):
    start = time.monotonic()
    user.request_start()
    while not user.status_ok(timeout=30):
        if time.monotonic() - start > timeout:
            raise hubclient.WaitTimeout(f"server of {user.name} not up in {timeout}s")
        time.sleep(POLL_S)
    ready = time.monotonic() - start
    time.sleep(SETTLE_S)
    rss = benchlib.container_python(name, SERVER_RSS, account).strip()
    user.stop(timeout=120)
    return ready, int(rss) if rss else None


def bare_start(name, account, port, env=()):
    out = benchlib.container_python(name, BARE, account, port, benchlib.ENV, SETTLE_S, POLL_S,
                                    *env, timeout=400)
    got = json.loads(out)
    return got["ready_s"], got["rss_kb"]


def median_mb(kbs):
    return round(statistics.median(kbs) / 1024, 1) if kbs else None


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--count", type=int, default=20, help="timed starts of each kind")
    p.add_argument("--user", default="spawnbench", help="hub user to spawn")
    p.add_argument("--bare-port", type=int, default=18888,
                   help="loopback port inside the container for the bare jupyter-lab")
    p.add_argument("--bare-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment for the bare jupyter-lab too, to mirror a "
                        "Spawner.environment being tried (repeatable)")
    a = p.parse_args()

    benchlib.require_running(a.name)
    ca = benchlib.ca_file(a.name)
    # Fixed per name: firstuse keeps the password the first login set.
    user = hubclient.HubUser(a.user, ca, benchlib.hub_url(a.port),
                             password=f"bench-{a.user}-password").login()
    # Names this script uses map to jupyter-<name> (hdfhub_users.unix_username).
    account = f"jupyter-{a.user}"
    if user.server() is not None:
        user.stop(timeout=120)

    hub_spawn(user, a.name, account)  # untimed: makes the account, warms caches
    bare_start(a.name, account, a.bare_port, a.bare_env)
    hub, bare, hub_rss, bare_rss = [], [], [], []
    for i in range(a.count):
        # Alternate which goes first, so drift in the machine's load is shared.
        for kind in (("hub", "bare") if i % 2 == 0 else ("bare", "hub")):
            if kind == "hub":
                secs, rss = hub_spawn(user, a.name, account)
                hub.append(secs)
                hub_rss.append(rss)
            else:
                secs, rss = bare_start(a.name, account, a.bare_port, a.bare_env)
                bare.append(secs)
                bare_rss.append(rss)
            print(f"  {i + 1:3}/{a.count} {kind:4} {secs:6.2f} s  rss {(rss or 0) / 1024:6.1f} MB",
                  file=sys.stderr, flush=True)

    hs, bs = benchlib.summary(hub), benchlib.summary(bare)
    result = {"benchmark": "spawn", "count": a.count, "user": a.user, "bare_env": a.bare_env,
              "hub_p50": hs["p50"], "hub_p95": hs["p95"],
              "bare_p50": bs["p50"], "bare_p95": bs["p95"],
              "hub_to_bare_p50": benchlib.ratio(hs["p50"], bs["p50"]),
              "hub_to_bare_p95": benchlib.ratio(hs["p95"], bs["p95"]),
              "hub_rss_mb_p50": median_mb([r for r in hub_rss if r]),
              "bare_rss_mb_p50": median_mb(bare_rss),
              "hub_s": [round(v, 3) for v in hub], "bare_s": [round(v, 3) for v in bare]}
    benchlib.report(result, ["hub_p50", "hub_p95", "bare_p50", "bare_p95", "hub_to_bare_p50",
                             "hub_to_bare_p95", "hub_rss_mb_p50", "bare_rss_mb_p50"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
