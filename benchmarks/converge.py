#!/usr/bin/env python3
"""Converge benchmark: cold, no-op and one-setting-changed converges.

Boots a fresh Debian 12 systemd container and runs playbooks/site.yml inside
it with connection local (inventories/localhost, as the README's quick start
does), online. Prints one JSON line and a table:
  boot_s           container start until systemd is up
  cold_s           first converge, installs everything from the network
  noop_s, noop_changed
                   second converge, nothing changed (goal: <= 30 s, changed 0)
  setting_s, setting_changed
                   third converge with one setting changed (the idle-culler
                   timeout), so the hub configuration is rewritten and the hub
                   restarted
  noop_to_cold     ratio measured in this run
  module_call_s    what one no-op module call costs on this host
                   (benchmarks/floor.yml: 40 calls minus 0 calls)
  noop_in_calls    noop_s / module_call_s: the no-op converge in module calls,
                   to compare with how many it makes (its task count)
and the 10 slowest tasks of each run (profile_tasks).

  python3 benchmarks/converge.py [--keep]

--keep leaves the converged container (hdfhub-bench, nginx on
https://localhost:7443) running for the spawn, load and TLS benchmarks.
"""
import sys

import benchlib

FLOOR_CALLS = 40


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--keep", action="store_true", help="leave the container running")
    a = p.parse_args()

    boot_s = benchlib.start_container(a.name, a.port)
    try:
        cold = benchlib.converge(a.name)
        noop = benchlib.converge(a.name)
        setting = benchlib.converge(a.name, ["hdfhub_cull_idle_timeout=1800"])
        floor = [benchlib.converge(a.name, [f"count={n}"], "benchmarks/floor.yml")[0]
                 for n in (0, FLOOR_CALLS)]
        # Back to the inventory's settings, so a kept hub is the documented one.
        benchlib.converge(a.name) if a.keep else None
    finally:
        if not a.keep:
            benchlib.stop_container(a.name)

    result = {"benchmark": "converge", "connection": "local", "image": benchlib.IMAGE,
              "boot_s": round(boot_s, 1),
              "cold_s": round(cold[0], 1), "cold_changed": cold[1],
              "noop_s": round(noop[0], 1), "noop_changed": noop[1],
              "setting_s": round(setting[0], 1), "setting_changed": setting[1],
              "noop_to_cold": round(noop[0] / cold[0], 3),
              "module_call_s": round((floor[1] - floor[0]) / FLOOR_CALLS, 3),
              "slowest_cold": cold[3], "slowest_noop": noop[3], "slowest_setting": setting[3]}
    result["noop_in_calls"] = round(noop[0] / result["module_call_s"])
    benchlib.report(result, ["boot_s", "cold_s", "cold_changed", "noop_s", "noop_changed",
                             "setting_s", "setting_changed", "noop_to_cold", "module_call_s",
                             "noop_in_calls"],
                    [("slowest tasks, cold", cold[3]), ("slowest tasks, no-op", noop[3]),
                     ("slowest tasks, one setting changed", setting[3])])
    return 0 if noop[1] == 0 and not any(r[2] for r in (cold, noop, setting)) else 1


if __name__ == "__main__":
    sys.exit(main())
