#!/usr/bin/env python3
"""Converge benchmark: cold converge, no-op re-converge, changed count.

Uses a molecule scenario's container (fresh, so the cold run installs
everything from the network) and prints one JSON line and a table:
  cold_s      first converge of a fresh container, online
  reconverge_s second converge, nothing changed in between
  changed     tasks reported changed by the second converge (goal: 0)
  slowest     the 10 slowest tasks of each run (profile_tasks)

Run it on its own (it uses the scenario's container and ports):
  python3 benchmarks/converge.py [--scenario default] [--keep]
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TASK_TIME = re.compile(r"^(?P<task>\S.*?) -+ (?P<secs>[0-9.]+)s$")
RECAP = re.compile(r"^\S+\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)")


def molecule(action, scenario):
    """Run one molecule action; return (seconds, output)."""
    start = time.monotonic()
    proc = subprocess.run(["molecule", action, "--scenario-name", scenario], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - start
    if proc.returncode:
        sys.stdout.write(proc.stdout[-5000:])
        raise SystemExit(f"molecule {action} failed")
    return took, proc.stdout


def parse(output):
    """Changed count from the play recap, and the 10 slowest tasks."""
    changed = failed = None
    tasks = []
    for line in output.splitlines():
        if m := RECAP.match(line.strip()):
            changed, failed = int(m["changed"]), int(m["failed"])
        elif m := TASK_TIME.match(line.strip()):
            tasks.append((m["task"], float(m["secs"])))
    tasks.sort(key=lambda t: -t[1])
    return changed, failed, tasks[:10]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="default")
    p.add_argument("--keep", action="store_true", help="leave the container running")
    a = p.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "molecule/containers.conf"))
    os.environ.setdefault("ANSIBLE_FORCE_COLOR", "0")
    os.environ.setdefault("PY_COLORS", "0")

    molecule("destroy", a.scenario)
    create_s, _ = molecule("create", a.scenario)
    cold_s, cold_out = molecule("converge", a.scenario)
    warm_s, warm_out = molecule("converge", a.scenario)
    if not a.keep:
        molecule("destroy", a.scenario)

    cold_changed, _, cold_slow = parse(cold_out)
    changed, failed, warm_slow = parse(warm_out)
    result = {"benchmark": "converge", "scenario": a.scenario,
              "create_s": round(create_s, 1), "cold_s": round(cold_s, 1),
              "cold_changed": cold_changed, "reconverge_s": round(warm_s, 1),
              "changed": changed, "failed": failed,
              "reconverge_to_cold": round(warm_s / cold_s, 3),
              "slowest_cold": cold_slow, "slowest_reconverge": warm_slow}
    print(json.dumps(result))
    print(f"\n{'figure':<28}{'value':>10}")
    for key in ("create_s", "cold_s", "cold_changed", "reconverge_s", "changed",
                "reconverge_to_cold"):
        print(f"{key:<28}{result[key]:>10}")
    for label, rows in (("slowest tasks, cold", cold_slow),
                        ("slowest tasks, re-converge", warm_slow)):
        print(f"\n{label}:")
        for task, secs in rows:
            print(f"  {secs:7.1f} s  {task}")
    return 0 if changed == 0 and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
