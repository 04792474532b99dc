#!/usr/bin/env python3
"""HSDS benchmark: h5pyd through HSDS against h5py on a local file, in one run.

Boots a fresh Debian 12 systemd container, converges it without HSDS, then
with hdfhub_hsds_enabled and hdfhub_hsds_public, and measures inside it, with the HDF5
environment's Python, as a hub user would from a notebook:
  hsds_converge_s   the converge that turns HSDS on, on a converged hub
                    (what HSDS adds to a cold converge), against a no-op
  write_ratio       writing a 100 MB float64 dataset (1024x1024 chunks, gzip,
                    in 8 MB slices), h5pyd to HSDS over nginx on loopback,
                    over h5py to a local file
  read_ratio        reading it back, the same way
  write_tls_ratio,  the same through nginx and TLS (hdfhub_hsds_public), as h5pyd
  read_tls_ratio    on a laptop reaches it
  open_ratio        opening a domain against opening the local file (median
                    of OPENS)
  hsds_idle_mb      the resident memory of HSDS's nodes, idle
  hsds_read_mb      their peak during the read
Times are the best of ROUNDS; every ratio is measured in the same run.

  python3 benchmarks/hsds.py [--keep]
"""
import json
import sys

import benchlib

ROUNDS = 3
OPENS = 20

# Runs in the container as root, with a user of HSDS's made for the benchmark
# (its password derived from the salt, as the hub derives users').
CLIENT = r"""
import hashlib, json, os, statistics, subprocess, sys, threading, time
import base64, urllib.error, urllib.request
import h5py, h5pyd, numpy as np

ROUNDS, OPENS = int(sys.argv[1]), int(sys.argv[2])
salt = open("/etc/hdfhub/hsds/salt.env").read().strip().split("=", 1)[1]
def password(name):
    return hashlib.sha512((name + salt).encode()).hexdigest()[:32]
endpoint = "http://127.0.0.1:5101"
auth = "Basic " + base64.b64encode(f"HdfhubAdmin:{password('HdfhubAdmin')}".encode()).decode()
request = urllib.request.Request(f"{endpoint}/?domain=/home/bench", method="PUT",
                                 data=json.dumps({"folder": True, "owner": "bench"}).encode(),
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
try:
    urllib.request.urlopen(request, timeout=60)
except urllib.error.HTTPError as e:
    assert e.code == 409, e
os.environ.update(HS_ENDPOINT=endpoint, HS_USERNAME="bench", HS_PASSWORD=password("bench"))

def rss_mb():
    pids = subprocess.run(["pgrep", "-f", "hsds-node"], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024

data = np.random.default_rng(1).random(100 * 2**20 // 8).reshape(-1, 1024)
opts = dict(chunks=(1024, 1024), compression="gzip")
local, remote = "/var/tmp/bench.h5", "/home/bench/bench.h5"

def best(fn):
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)

# In slices of SLICE rows (8 MB): HSDS refuses a request over its
# max_request_size (100 MB), so a notebook writes a large array in parts.
SLICE = 1024
def write(open_, path):
    with open_(path, "w") as f:
        d = f.create_dataset("x", shape=data.shape, dtype=data.dtype, **opts)
        for i in range(0, len(data), SLICE):
            d[i:i + SLICE] = data[i:i + SLICE]
def read(open_, path):
    with open_(path, "r") as f:
        d = f["x"]
        for i in range(0, len(data), SLICE):
            assert d[i:i + SLICE].shape[0] == min(SLICE, len(data) - i)
tls = "https://127.0.0.1/hsds"
os.environ["REQUESTS_CA_BUNDLE"] = "/etc/hdfhub/tls/ca.crt"
def over_tls(path, mode):
    return h5pyd.File(path, mode, endpoint=tls)
def write_local(): write(h5py.File, local)
def write_tls(): write(over_tls, "/home/bench/bench-tls.h5")
def read_tls(): read(over_tls, "/home/bench/bench-tls.h5")
def write_remote(): write(h5pyd.File, remote)
def read_local(): read(h5py.File, local)
def read_remote(): read(h5pyd.File, remote)

result = {"write_local_s": best(write_local), "write_hsds_s": best(write_remote)}
idle = rss_mb()
peak = [idle]
done = threading.Event()
def sample():
    while not done.is_set():
        peak.append(rss_mb()); time.sleep(0.1)
watcher = threading.Thread(target=sample); watcher.start()
result["read_hsds_s"] = best(read_remote)
done.set(); watcher.join()
result["read_local_s"] = best(read_local)
result["write_tls_s"] = best(write_tls)
result["read_tls_s"] = best(read_tls)
with h5pyd.File(remote, "r") as f:
    assert np.array_equal(f["x"][:16], data[:16])
def opens(open_):
    times = []
    for _ in range(OPENS):
        t = time.perf_counter(); open_().close(); times.append(time.perf_counter() - t)
    return statistics.median(times)
result["open_local_s"] = opens(lambda: h5py.File(local, "r"))
result["open_hsds_s"] = opens(lambda: h5pyd.File(remote, "r"))
result["hsds_idle_mb"] = round(idle)
result["hsds_read_mb"] = round(max(peak))
print(json.dumps(result))
"""


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--keep", action="store_true", help="leave the container running")
    a = p.parse_args()

    benchlib.start_container(a.name, a.port)
    try:
        cold = benchlib.converge(a.name)
        noop = benchlib.converge(a.name)
        hsds = benchlib.converge(a.name, ["hdfhub_hsds_enabled=true", "hdfhub_hsds_public=true"])
        if any(run[2] for run in (cold, noop, hsds)):
            raise SystemExit("a converge failed")
        got = json.loads(benchlib.container_python(a.name, CLIENT, ROUNDS, OPENS).splitlines()[-1])
    finally:
        if not a.keep:
            benchlib.stop_container(a.name)

    result = {"benchmark": "hsds", "image": benchlib.IMAGE, "rounds": ROUNDS,
              "dataset_mb": 100, "cold_s": round(cold[0], 1), "noop_s": round(noop[0], 1),
              "hsds_converge_s": round(hsds[0], 1),
              **{k: round(v, 3) if isinstance(v, float) else v for k, v in got.items()},
              "write_ratio": benchlib.ratio(got["write_hsds_s"], got["write_local_s"]),
              "read_ratio": benchlib.ratio(got["read_hsds_s"], got["read_local_s"]),
              "write_tls_ratio": benchlib.ratio(got["write_tls_s"], got["write_local_s"]),
              "read_tls_ratio": benchlib.ratio(got["read_tls_s"], got["read_local_s"]),
              "open_ratio": benchlib.ratio(got["open_hsds_s"], got["open_local_s"])}
    benchlib.report(result, ["cold_s", "noop_s", "hsds_converge_s", "write_local_s", "write_hsds_s",
                             "write_ratio", "read_local_s", "read_hsds_s", "read_ratio",
                             "write_tls_s", "write_tls_ratio", "read_tls_s", "read_tls_ratio",
                             "open_local_s", "open_hsds_s", "open_ratio", "hsds_idle_mb",
                             "hsds_read_mb"],
                    [("slowest tasks, turning HSDS on", hsds[3])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
