#!/usr/bin/env python3
"""Load benchmark: a workshop's attendees arriving at a kept hub.

USERS simulated attendees (threads) arrive evenly within RAMP seconds. Each,
through nginx/TLS as a browser would: logs in through the login form (new
names every run, so firstuse signs them up), starts its server and waits on
the hub's progress stream until it is ready and /user/<name>/api/status
answers, opens a kernel over the WebSocket and runs an h5py cell (writes a
small dataset, reads it back, checks the sum), stays idle IDLE seconds with
the kernel open, and stops its server. At DEADLINE seconds everything still
under way is abandoned (failure "deadline") and every server the run started
is stopped.

Prints one JSON line and a table: attendees ready and done, failures by kind
(login, spawn, kernel, code, stop, deadline), p50/p95 of time to ready
(arrival until the server answers) and its parts, and, sampled inside the
container during the run: the hub's CPU seconds and RSS, the proxy's, the
mean RSS of a user server (jupyterhub-singleuser) and of its kernel while
their attendee is idle, and this machine's lowest MemAvailable.

With --warm, the room is warm first: the names become hub users, and
playbooks/warm.yml starts their servers (timed, "warm_s"); an attendee
whose server is running when they log in uses it and starts nothing.

  python3 benchmarks/load.py [--users 100] [--ramp 60] [--idle 30] [--warm]
                             [--deadline 600] [--name hdfhub-bench] [--port 7443]

`run_load()` is the same run without the container sampling, for the verify
suite's smoke test.
"""
import collections
import concurrent.futures
import json
import statistics
import subprocess
import sys
import threading
import time

import benchlib

hubclient = benchlib.hubclient()

# Writes and reads back a small gzip dataset in the attendee's home; prints
# its sum, which the attendee checks.
CELL = """
import h5py, numpy as np
data = np.arange({n}, dtype="int64").reshape(-1, 10) * {k}
with h5py.File("hdfhub-load.h5", "w") as f:
    f.create_dataset("x", data=data, compression="gzip")
with h5py.File("hdfhub-load.h5", "r") as f:
    print(int(f["x"][()].sum()))
"""
CELL_N = 1000


class Deadline(Exception):
    """The run's deadline passed while this attendee was under way."""


class Attendee:
    def __init__(self, user, arrival):
        self.user = user
        self.arrival = arrival  # seconds after the run's start
        self.phase = "arrival"
        self.times = {}  # phase -> seconds
        self.failure = None  # (kind, detail) of the first failure
        self.started = False  # we asked for a server: it must be stopped
        self.stopped = False
        self.done = False

    def fail(self, kind, detail):
        if self.failure is None:
            self.failure = (kind, str(detail)[:200])


class LoadRun:
    """One run; `idle` holds the names of attendees idling right now, for
    samplers that measure idle servers."""

    def __init__(self, base_url, ca_file, names, ramp, idle, password, deadline, warm=False):
        self.base_url, self.ca_file, self.warm = base_url, ca_file, warm
        self.ramp, self.idle_s, self.deadline_s = ramp, idle, deadline
        step = ramp / len(names) if names else 0
        self.attendees = [Attendee(hubclient.HubUser(n, ca_file, base_url, password(n)), i * step)
                          for i, n in enumerate(names)]
        self.idle = set()
        self.lock = threading.Lock()
        self.over = threading.Event()  # the deadline passed
        self.t0 = None

    def remaining(self):
        left = self.deadline_s - (time.monotonic() - self.t0)
        if left <= 0 or self.over.is_set():
            raise Deadline()
        return left

    def bounded(self, seconds):
        """A timeout for one step: its own limit, but never past the deadline."""
        return max(1, min(seconds, self.remaining()))

    def attend(self, a):
        if self.over.wait(max(0, self.t0 + a.arrival - time.monotonic())):
            raise Deadline()
        arrived = time.monotonic()
        u = a.user

        a.phase = "login"
        u.login(timeout=self.bounded(120))
        a.times["login"] = time.monotonic() - arrived

        a.phase = "spawn"
        asked = time.monotonic()
        a.started = True
        # A warm room's server is running already (playbooks/warm.yml).
        if not (self.warm and (u.server() or {}).get("ready")):
            self.start(u)
        # The proxy route exists once the hub says ready; allow a moment anyway.
        hubclient.wait_for(lambda: u.status_ok(timeout=self.bounded(30)), self.bounded(30),
                           interval=0.2, what=f"{u.name}'s server through nginx")
        now = time.monotonic()
        a.times["spawn"] = now - asked
        a.times["ready"] = now - arrived

        a.phase = "kernel"
        kernel = u.new_kernel(timeout=self.bounded(120))
        ws = u.connect(kernel, timeout=self.bounded(120))
        try:
            a.times["kernel"] = time.monotonic() - now

            a.phase = "code"
            k = len(u.name) + 1
            ran = time.monotonic()
            out = u.execute(ws, CELL.format(n=CELL_N, k=k), timeout=self.bounded(120))
            if out.strip() != str(k * CELL_N * (CELL_N - 1) // 2):
                raise hubclient.HubError(f"h5py cell printed {out.strip()!r}")
            a.times["code"] = time.monotonic() - ran

            a.phase = "idle"
            with self.lock:
                self.idle.add(u.name)
            try:
                if self.over.wait(self.idle_s):
                    raise Deadline()
            finally:
                with self.lock:
                    self.idle.discard(u.name)
        finally:
            ws.close()

        a.phase = "stop"
        stopping = time.monotonic()
        u.stop(timeout=self.bounded(120))  # also ends the kernel
        a.stopped = True
        a.times["stop"] = time.monotonic() - stopping
        a.done = True

    def start(self, u):
        try:
            u.request_start()
        except hubclient.HubError:
            # A server left running by an earlier run with the same names
            # (the smoke test's are fixed): stop it and ask again.
            if u.server() is None:
                raise
            u.stop(timeout=self.bounded(120))
            u.request_start()
        u.wait_progress(self.bounded(self.deadline_s))

    def worker(self, a):
        try:
            self.attend(a)
        except Deadline:
            a.fail("deadline", f"during {a.phase}")
        except Exception as e:  # any error: a failure of the step it happened in
            a.fail("deadline" if self.over.is_set() else a.phase,
                   f"{type(e).__name__}: {e}")
        finally:
            if a.started and not a.stopped:
                self.cleanup(a)

    @staticmethod
    def cleanup(a, timeout=120):
        """Stop a server this run started; a failure to is a "stop" failure."""
        try:
            if a.user.server() is not None:
                a.user.stop(timeout=timeout)
            a.stopped = True
        except Exception as e:
            a.fail("stop", f"cleanup: {type(e).__name__}: {e}")

    def run(self, grace=180):
        """Returns after every attendee is done or the deadline passed and
        the stragglers had `grace` seconds to stop their servers."""
        self.t0 = time.monotonic()
        threads = [threading.Thread(target=self.worker, args=(a,), daemon=True,
                                    name=a.user.name) for a in self.attendees]
        for t in threads:
            t.start()
        end = self.t0 + self.deadline_s
        for t in threads:
            t.join(max(0, end - time.monotonic()))
        self.over.set()
        for t in threads:
            t.join(max(0, end + grace - time.monotonic()))
        # Threads still stuck in a request: stop their servers from here.
        stuck = [a for a in self.attendees if a.started and not a.stopped]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda a: (a.fail("deadline", f"stuck in {a.phase}"),
                                     self.cleanup(a)), stuck))
        for a in self.attendees:
            if not a.done:
                a.fail("deadline", f"stuck in {a.phase}")
        self.elapsed = time.monotonic() - self.t0
        return self.summary()

    def summary(self):
        failures = collections.Counter(a.failure[0] for a in self.attendees if a.failure)
        details = collections.Counter(f"{a.failure[0]}: {a.failure[1][:100]}"
                                      for a in self.attendees if a.failure)

        def phase(name):
            return benchlib.summary([a.times[name] for a in self.attendees if name in a.times])

        return {"users": len(self.attendees), "ramp_s": self.ramp, "idle_s": self.idle_s,
                "deadline_s": self.deadline_s, "elapsed_s": round(self.elapsed, 1),
                "ready": sum("ready" in a.times for a in self.attendees),
                "done": sum(a.done for a in self.attendees),
                "failed": sum(failures.values()), "failures": dict(failures),
                "failure_details": dict(details.most_common(10)),
                "not_stopped": sum(a.started and not a.stopped for a in self.attendees),
                "ready_s": phase("ready"), "login_s": phase("login"), "spawn_s": phase("spawn"),
                "kernel_s": phase("kernel"), "code_s": phase("code"), "stop_s": phase("stop")}


def run_load(base_url, ca_file, names, password, ramp=60, idle=30, deadline=600, run=None,
             warm=False):
    """The load run for these hub user names; its summary (a dict).
    `run`, if given, receives the LoadRun first (e.g. to watch `idle`);
    `warm`: use a server that is running already."""
    load = LoadRun(base_url, ca_file, names, ramp, idle, password, deadline, warm)
    if run:
        run(load)
    return load.run()


def unique_prefix():
    """A name prefix no earlier run used: firstuse keeps each name's first password."""
    n, digits = int(time.time() * 10), ""
    while n:
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
    return f"ld{digits[-7:]}-"


# Runs in the container: every INTERVAL s until stdin closes, one JSON line
# with the hub's and the proxy's cgroup CPU seconds and memory, their main
# processes' RSS, and [RSS, PSS, USS] (kB) of every user server and kernel by
# account. PSS and USS show what a server really costs: much of its RSS is
# the environment's shared libraries, counted once per process.
SAMPLER = r"""
import json, os, pwd, select, subprocess, sys, time
interval = float(sys.argv[1])
TICK = os.sysconf("SC_CLK_TCK")

def read(path):
    with open(path) as f:
        return f.read()

# CPU seconds and memory bytes of a unit. CPU from its processes' own times
# (plus the main process's reaped children, e.g. the spawner's systemctl
# calls): that works with cgroup v1 too, where systemd has no per-unit CPU
# accounting (CPUUsageNSec not set).
def cgroup(unit, main):
    v2 = f"/sys/fs/cgroup/system.slice/{unit}"
    if os.path.exists(f"{v2}/memory.current"):
        procs, mem = f"{v2}/cgroup.procs", int(read(f"{v2}/memory.current"))
    else:
        v1 = f"/sys/fs/cgroup/memory/system.slice/{unit}"
        procs, mem = f"{v1}/cgroup.procs", int(read(f"{v1}/memory.usage_in_bytes"))
    cpu = 0
    for pid in read(procs).split():
        try:
            fields = read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += int(fields[11]) + int(fields[12])  # utime, stime
        if int(pid) == main:
            cpu += int(fields[13]) + int(fields[14])  # cutime, cstime
    return cpu / TICK, mem

def main_pid(unit):
    out = subprocess.run(["systemctl", "show", unit, "-p", "MainPID", "--value"],
                         capture_output=True, text=True).stdout
    return int(out.strip() or 0)

def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

def memory(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        m = {l.split(":")[0]: int(l.split()[1]) for l in f if l.split()[-1] == "kB"}
    return [m["Rss"], m["Pss"], m["Private_Clean"] + m["Private_Dirty"]]

names = {}
def owner(pid):
    uid = os.stat(f"/proc/{pid}").st_uid
    if uid not in names:
        try:
            names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            names[uid] = str(uid)
    return names[uid]

pids = {}
while True:
    for unit in ("jupyterhub.service", "jupyterhub-proxy.service"):
        if not os.path.exists(f"/proc/{pids.get(unit, 0)}"):
            pids[unit] = main_pid(unit)
    s = {"t": time.time(), "servers": {}, "kernels": {}}
    for key, unit in (("hub", "jupyterhub.service"), ("proxy", "jupyterhub-proxy.service")):
        s[key + "_cpu_s"], s[key + "_mem"] = cgroup(unit, pids[unit])
        try:
            s[key + "_rss_kb"] = rss(pids[unit])
        except (OSError, StopIteration):
            s[key + "_rss_kb"] = None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")[:6]
            kind = "servers" if any(a.endswith(b"/jupyterhub-singleuser") for a in args) else \
                "kernels" if b"ipykernel_launcher" in args else None
            if kind:
                who = owner(pid)
                s[kind][who] = [a + b for a, b in zip(s[kind].get(who, [0, 0, 0]), memory(pid))]
        except (OSError, StopIteration):
            pass  # gone meanwhile
    s["load1"] = os.getloadavg()[0]
    print(json.dumps(s), flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], interval)
    if ready and not sys.stdin.readline():
        break
"""


class Sampler:
    """Samples the container (SAMPLER) and this machine's MemAvailable while
    the run goes; notes which accounts were idle at each sample."""

    def __init__(self, name, interval=2.0):
        self.proc = subprocess.Popen(
            ["podman", "exec", "-i", name, benchlib.ENV_PYTHON, "-c", SAMPLER, str(interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.samples = []  # (sample, idle accounts, MemAvailable MB)
        self.load = None
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for line in self.proc.stdout:
            idle = set()
            if self.load:
                with self.load.lock:
                    # Names made by unique_prefix map to jupyter-<name> (hdfhub_users).
                    idle = {f"jupyter-{n}" for n in self.load.idle}
            self.samples.append((json.loads(line), idle, benchlib.mem_available_mb()))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)
        self.thread.join(10)

    def figures(self):
        if not self.samples:
            return {}
        first, last = self.samples[0][0], self.samples[-1][0]
        idle = {"server": [], "kernel": []}  # [rss, pss, uss] of idle attendees
        users_total = []
        for s, idle_now, _ in self.samples:
            for kind in idle:
                idle[kind] += [m for who, m in s[kind + "s"].items() if who in idle_now]
            users_total.append(sum(m[1] for kind in ("servers", "kernels")
                                   for m in s[kind].values()))

        def mean_mb(kind, i):
            values = [m[i] for m in idle[kind]]
            return round(statistics.mean(values) / 1024, 1) if values else None

        def peak_mb(key, scale):
            values = [s[key] for s, _, _ in self.samples if s.get(key) is not None]
            return round(max(values) / scale, 1) if values else None

        wall = last["t"] - first["t"]
        hub_cpu = last["hub_cpu_s"] - first["hub_cpu_s"]
        return {"samples": len(self.samples),
                "hub_cpu_s": round(hub_cpu, 1),
                "hub_cpu_share": round(hub_cpu / wall, 3) if wall else None,
                "hub_rss_mb_peak": peak_mb("hub_rss_kb", 1024),
                "hub_cgroup_mb_peak": peak_mb("hub_mem", 2**20),
                "proxy_cpu_s": round(last["proxy_cpu_s"] - first["proxy_cpu_s"], 1),
                "proxy_rss_mb_peak": peak_mb("proxy_rss_kb", 1024),
                "servers_peak": max(len(s["servers"]) for s, _, _ in self.samples),
                **{f"idle_{kind}_{mem}_mb": mean_mb(kind, i) for kind in ("server", "kernel")
                   for i, mem in enumerate(("rss", "pss", "uss"))},
                "users_pss_mb_peak": round(max(users_total) / 1024, 1),
                "load1_peak": round(max(s["load1"] for s, _, _ in self.samples), 2),
                "host_mem_available_mb_start": self.samples[0][2],
                "host_mem_available_mb_min": min(m for _, _, m in self.samples)}


# Makes the hub users of argv[1] (a JSON list), with the Ansible service's
# token: firstuse knows a name only from its first login.
CREATE_USERS = r"""
import json, sys, urllib.request
token = open("/var/lib/hdfhub/ansible-api-token").read().strip()
req = urllib.request.Request("http://127.0.0.1:8000/hub/api/users", method="POST",
                             data=json.dumps({"usernames": json.loads(sys.argv[1])}).encode(),
                             headers={"Authorization": f"token {token}"})
print(urllib.request.urlopen(req).status)
"""


def warm_room(name, names):
    """Make the names hub users and warm the room with playbooks/warm.yml:
    its time, and the host's memory before and after (MB)."""
    benchlib.container_python(name, CREATE_USERS, json.dumps(names))
    before = benchlib.mem_available_mb()
    took, _, failed, _ = benchlib.converge(
        name, [json.dumps({"hdfhub_warm_users": names})], playbook="playbooks/warm.yml")
    if failed:
        raise RuntimeError("playbooks/warm.yml failed")
    return {"warm_s": round(took, 1), "warm_mem_used_mb": before - benchlib.mem_available_mb()}


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--users", type=int, default=100, help="attendees")
    p.add_argument("--ramp", type=float, default=60, help="seconds over which they arrive")
    p.add_argument("--idle", type=float, default=30, help="seconds each stays idle")
    p.add_argument("--deadline", type=float, default=600,
                   help="seconds after which everything still under way fails")
    p.add_argument("--prefix", help="hub user name prefix (default: new for each run)")
    p.add_argument("--interval", type=float, default=2.0, help="sampling interval, seconds")
    p.add_argument("--warm", action="store_true",
                   help="start the attendees' servers first, with playbooks/warm.yml")
    a = p.parse_args()

    benchlib.require_running(a.name)
    ca = benchlib.ca_file(a.name)
    prefix = a.prefix or unique_prefix()
    names = [f"{prefix}{i:03d}" for i in range(a.users)]
    warm = {}
    if a.warm:
        warm = warm_room(a.name, names)
    sampler = Sampler(a.name, a.interval)
    try:
        summary = run_load(benchlib.hub_url(a.port), ca, names,
                           lambda n: f"load-{n}-password",
                           a.ramp, a.idle, a.deadline, run=lambda r: setattr(sampler, "load", r),
                           warm=a.warm)
    finally:
        sampler.close()
    result = {"benchmark": "load", "prefix": prefix, "warm": a.warm, **warm, **summary,
              **sampler.figures()}
    for key in ("ready_s", "login_s", "spawn_s", "kernel_s", "code_s", "stop_s"):
        s = result.pop(key)
        result[key.replace("_s", "_p50")] = s.get("p50")
        result[key.replace("_s", "_p95")] = s.get("p95")
    rows = [k for k in result if k not in ("benchmark", "prefix", "failures", "failure_details")]
    benchlib.report(result, rows)
    benchlib.print_counts("failures by kind", sorted(summary["failures"].items()))
    benchlib.print_counts("failures, most common", [
        (text, n) for text, n in summary["failure_details"].items()])
    return 0 if not summary["failed"] and not summary["not_stopped"] else 1


if __name__ == "__main__":
    sys.exit(main())
