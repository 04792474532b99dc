#!/usr/bin/env python3
"""Offline benchmark: build a bundle, converge from it with no network, and
compare with an online converge measured in the same run.

1. A fresh Debian 12 container with network converges online (cold), with
   connection local as converge.py does, then once more (no-op).
2. That container builds the bundle (playbooks/bundle.yml, connection local)
   into a directory of this machine.
3. A fresh container with no network (only loopback) gets that directory
   mounted and converges from the bundle (cold), then once more (no-op).

Prints one JSON line and a table:
  online_cold_s       cold converge from the network
  online_noop_s, online_noop_changed
                      second online converge
  module_call_s       one no-op module call on this host (benchmarks/floor.yml,
                      as converge.py measures it), and online_noop_in_calls
  bundle_s            bundle.yml run (downloads, manifest, archive)
  bundle_mb, bundle_files
                      the archive's size and file count
  offline_cold_s      cold converge from the bundle, no network
  offline_noop_s, offline_noop_changed
                      second offline converge
  offline_to_online   offline_cold_s / online_cold_s, same run (goal: <= 0.6)
and the 10 slowest tasks of the offline cold and the online no-op converges.

  python3 benchmarks/offline.py [--dir DIR]
"""
import json
import pathlib
import sys
import tarfile
import time

import benchlib
from converge import FLOOR_CALLS


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--dir", default="/var/tmp/hdfhub-bench-bundle",
                   help="directory of this machine that receives the bundle")
    a = p.parse_args()
    bundle_dir = pathlib.Path(a.dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    archive = "/mnt/bundle/hdfhub-bundle.tar"
    bind = [f"{bundle_dir}:/mnt/bundle"]

    benchlib.start_container(a.name, a.port, volumes=bind)
    try:
        online = benchlib.converge(a.name)
        online_noop = benchlib.converge(a.name)
        floor = [benchlib.converge(a.name, [f"count={n}"], "benchmarks/floor.yml")[0]
                 for n in (0, FLOOR_CALLS)]
        start = time.monotonic()
        built = benchlib.converge(a.name, [f"hdfhub_offline_bundle={archive}"], "playbooks/bundle.yml")
        bundle_s = time.monotonic() - start
    finally:
        benchlib.stop_container(a.name)

    # The digest bundle.yml wrote beside the archive: preflight wants it.
    sha256 = (bundle_dir / "hdfhub-bundle.tar.sha256").read_text().split()[0]
    offline_vars = [f"hdfhub_offline_bundle={archive}", f"hdfhub_offline_bundle_sha256={sha256}"]
    with tarfile.open(bundle_dir / "hdfhub-bundle.tar") as tar:
        files = len(json.load(tar.extractfile("manifest.json"))["files"])
    size_mb = (bundle_dir / "hdfhub-bundle.tar").stat().st_size / 2**20

    benchlib.start_container(a.name, a.port, network="none", volumes=bind)
    try:
        offline = benchlib.converge(a.name, offline_vars)
        noop = benchlib.converge(a.name, offline_vars)
    finally:
        benchlib.stop_container(a.name)

    result = {"benchmark": "offline", "image": benchlib.IMAGE,
              "online_cold_s": round(online[0], 1), "online_noop_s": round(online_noop[0], 1),
              "online_noop_changed": online_noop[1],
              "module_call_s": round((floor[1] - floor[0]) / FLOOR_CALLS, 3),
              "bundle_s": round(bundle_s, 1),
              "bundle_mb": round(size_mb), "bundle_files": files,
              "offline_cold_s": round(offline[0], 1), "offline_noop_s": round(noop[0], 1),
              "offline_noop_changed": noop[1],
              "offline_to_online": round(offline[0] / online[0], 3),
              "slowest_offline_cold": offline[3], "slowest_online_noop": online_noop[3]}
    result["online_noop_in_calls"] = round(online_noop[0] / result["module_call_s"])
    benchlib.report(result, ["online_cold_s", "online_noop_s", "online_noop_changed",
                             "module_call_s", "online_noop_in_calls", "bundle_s", "bundle_mb",
                             "bundle_files",
                             "offline_cold_s", "offline_noop_s", "offline_noop_changed",
                             "offline_to_online"],
                    [("slowest tasks, offline cold", offline[3]),
                     ("slowest tasks, online no-op", online_noop[3])])
    runs = (online, online_noop, built, offline, noop)
    return 0 if noop[1] == online_noop[1] == 0 and not any(r[2] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
