#!/usr/bin/env python3
"""No-op converge of this checkout against another revision, in one run.

Checks REF out into a git worktree, boots one Debian 12 systemd container per
checkout (as benchmarks/converge.py does), converges each cold, then runs
no-op converges of the two in turn, ROUNDS each, so that both see the same
machine load. Both use this checkout's .venv. Prints one JSON line and a
table:
  ref_noop_s, this_noop_s   median no-op converge of each (changed must be 0)
  this_to_ref               ratio of the medians (below 1: this one is faster)
  ref_runs, this_runs       every no-op converge's seconds

  python3 benchmarks/noop_compare.py [--ref REV] [--rounds N]
"""
import pathlib
import statistics
import subprocess
import sys
import tempfile

import benchlib


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--ref", default="HEAD~1", help="the revision to compare with")
    p.add_argument("--rounds", type=int, default=3, help="no-op converges of each")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="hdfhub-ref-") as tmp:
        ref_root = pathlib.Path(tmp) / "checkout"
        benchlib.sh("git", "-C", benchlib.ROOT, "worktree", "add", "--detach", ref_root, a.ref,
                    capture=True)
        trees = {"ref": (ref_root, f"{a.name}-ref", a.port + 1),
                 "this": (benchlib.ROOT, f"{a.name}-this", a.port + 2)}
        noops = {key: [] for key in trees}
        try:
            for root, name, port in trees.values():
                benchlib.start_container(name, port, root=root)
                cold = benchlib.converge(name, root=root)
                if cold[2]:
                    raise SystemExit(f"the cold converge of {root} failed")
            for _ in range(a.rounds):
                for key, (root, name, _port) in trees.items():
                    took, changed, failed, _slowest = benchlib.converge(name, root=root)
                    if changed or failed:
                        raise SystemExit(f"a no-op converge of {key} changed {changed}, "
                                         f"failed {failed}")
                    noops[key].append(took)
        finally:
            for _root, name, _port in trees.values():
                benchlib.stop_container(name)
            subprocess.run(["git", "-C", str(benchlib.ROOT), "worktree", "remove", "--force",
                            str(ref_root)], capture_output=True)
    result = {"benchmark": "noop_compare", "ref": a.ref, "rounds": a.rounds,
              "ref_noop_s": round(statistics.median(noops["ref"]), 1),
              "this_noop_s": round(statistics.median(noops["this"]), 1),
              "ref_runs": [round(t, 1) for t in noops["ref"]],
              "this_runs": [round(t, 1) for t in noops["this"]]}
    result["this_to_ref"] = round(result["this_noop_s"] / result["ref_noop_s"], 3)
    benchlib.report(result, ["ref", "rounds", "ref_noop_s", "this_noop_s", "this_to_ref"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
