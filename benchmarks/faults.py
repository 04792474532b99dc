#!/usr/bin/env python3
"""Fault benchmark: how long the hub takes to come back by itself.

Against a running hub (`python3 benchmarks/converge.py --keep` first, or a
converged molecule container with `--name hdfhub-debian12 --port 8443`):
  kill9    `kill -9` of jupyterhub.service's main PID until GET /hub/api/
           answers 200 through nginx/TLS again (systemd's Restart=always,
           RestartSec included); repeated --count times
  reboot   `podman restart <container>` until a user can log in through the
           form (a new session) and GET /hub/api/ answers with the new token
Prints one JSON line and a table: the median and each run of kill9, and the
reboot time. The reboot is skipped with --no-reboot.

  python3 benchmarks/faults.py [--count 5] [--no-reboot] [--name hdfhub-bench] [--port 7443]
                               [--user faultbench] [--password PW]
"""
import statistics
import subprocess
import sys
import time

import benchlib

hubclient = benchlib.hubclient()

POLL_S = 0.1  # how often the hub is asked whether it is back
TIMEOUT_S = 300  # a hub that is not back by then is a failure, not a figure


def podman(*args, timeout=TIMEOUT_S):
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise SystemExit(f"podman {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def main_pid(name, unit):
    return int(podman("exec", name, "systemctl", "show", "-p", "MainPID", "--value", unit))


def hub_answers(user):
    try:
        return user.api("GET", "/hub/api/", timeout=5).status_code == 200
    except (hubclient.requests.RequestException, OSError):
        return False


def wait(predicate, what):
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} after {TIMEOUT_S} s")
        time.sleep(POLL_S)


def kill9(name, user):
    """Seconds from `kill -9` of the hub until it answers again."""
    wait(lambda: hub_answers(user), "hub before the kill")
    pid = main_pid(name, "jupyterhub")
    start = time.monotonic()
    podman("exec", name, "kill", "-9", str(pid))
    # The old process must be gone first, so that it is not the one answering.
    wait(lambda: main_pid(name, "jupyterhub") != pid, "killed hub gone")
    wait(lambda: hub_answers(user), "hub back after kill -9")
    return time.monotonic() - start


def login(user, deadline):
    while True:
        try:
            return user.login(timeout=10)
        except (hubclient.HubError, hubclient.requests.RequestException, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def reboot(name, ca, url, account, password):
    """Seconds from `podman restart` until a fresh login works and the API answers."""
    start = time.monotonic()
    podman("restart", name)
    user = hubclient.HubUser(account, ca, url, password=password)
    login(user, start + TIMEOUT_S)
    wait(lambda: hub_answers(user), "hub API after the reboot")
    return time.monotonic() - start


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--count", type=int, default=5, help="kill -9 repetitions")
    p.add_argument("--no-reboot", action="store_true", help="skip the reboot figure")
    p.add_argument("--user", default="faultbench",
                   help="hub user that logs in (must be allowed on that hub)")
    p.add_argument("--password", help="its password (default: bench-<user>-password; "
                                      "firstuse keeps the first one used)")
    a = p.parse_args()

    benchlib.require_running(a.name)
    ca = benchlib.ca_file(a.name)
    url = benchlib.hub_url(a.port)
    password = a.password or f"bench-{a.user}-password"
    user = hubclient.HubUser(a.user, ca, url, password=password).login()

    kills = []
    for i in range(a.count):
        kills.append(kill9(a.name, user))
        print(f"  {i + 1:3}/{a.count} kill -9 {kills[-1]:6.2f} s", file=sys.stderr, flush=True)
    boot = None
    if not a.no_reboot:
        boot = reboot(a.name, ca, url, a.user, password)
        print(f"      reboot   {boot:6.2f} s", file=sys.stderr, flush=True)

    result = {"benchmark": "faults", "count": a.count,
              "kill9_p50": round(statistics.median(kills), 3),
              "kill9_max": round(max(kills), 3),
              "reboot_to_ready": round(boot, 3) if boot is not None else None,
              "kill9_s": [round(v, 3) for v in kills]}
    benchlib.report(result, ["kill9_p50", "kill9_max", "reboot_to_ready"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
