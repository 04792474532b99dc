#!/usr/bin/env python3
"""The project's test command: `python3 tools/test.py` (all tiers).

Tiers, in order (pick with arguments, e.g. `tools/test.py static`):
  static    yamllint, ansible-lint (production profile), syntax check
  unit      pytest tests/ (filters, templates, and preflight against a
            throwaway container)
  converge  molecule scenarios `default` (Debian 12) and `debian13`: converge
            in a systemd container, idempotence, then testinfra and
            end-to-end verify

Tools come from requirements-dev.txt (which includes requirements.txt),
installed into .venv on first use.
The unit and converge tiers need podman, runc, slirp4netns and debootstrap
on this machine (.ci/run installs them on Debian).
"""
import argparse
import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
TIERS = ("static", "unit", "converge")
# Time budgets (seconds) that keep a CI run (90 min on 2 cores) well inside
# its limit: a hung step fails with a clear message instead of eating it all.
BUDGET = {"static": 600, "unit": 900, "scenario": 1800}
# molecule scenario -> Debian release of its image
SCENARIOS = {"default": "bookworm", "debian13": "trixie"}


def run(*cmd, budget=None):
    print("+", " ".join(map(str, cmd)), flush=True)
    # Own process group, so a step over budget is stopped with all it started.
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, start_new_session=True)
    try:
        rc = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(f"over its time budget of {budget} s: {' '.join(map(str, cmd))}")
    if rc:
        sys.exit(f"failed with exit code {rc}: {' '.join(map(str, cmd))}")


def ensure_venv():
    """Create .venv from requirements-dev.txt, again whenever a requirements file changes."""
    reqs = ROOT / "requirements-dev.txt"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(reqs.read_bytes() + (ROOT / "requirements.txt").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    run(sys.executable, "-m", "venv", "--clear", VENV)
    # uv (pinned in the same file) installs the rest several times faster than pip.
    uv_pin = next(line for line in reqs.read_text().splitlines() if line.startswith("uv=="))
    run(BIN / "pip", "install", "--quiet", uv_pin)
    run(BIN / "uv", "pip", "install", "--quiet", "--python", BIN / "python", "--requirement", reqs)
    stamp.write_text(digest)


def static():
    run(BIN / "yamllint", "--strict", ".", budget=BUDGET["static"])
    run(BIN / "ansible-lint", "--profile", "production", budget=BUDGET["static"])
    run(BIN / "ansible-playbook", "--syntax-check", "playbooks/site.yml", budget=BUDGET["static"])


def unit():
    run(BIN / "python", "tools/build_image.py", "--release", "bookworm", budget=BUDGET["unit"])
    run(BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", "tests", budget=BUDGET["unit"])


def converge():
    for scenario, release in SCENARIOS.items():
        run(BIN / "python", "tools/build_image.py", "--release", release, budget=BUDGET["unit"])
        run(BIN / "molecule", "test", "--scenario-name", scenario, budget=BUDGET["scenario"])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tiers", nargs="*", metavar="TIER", help=f"any of {', '.join(TIERS)}")
    a = p.parse_args()
    unknown = set(a.tiers) - set(TIERS)
    if unknown:
        p.error(f"unknown tier(s) {', '.join(sorted(unknown))}; choose from {', '.join(TIERS)}")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "molecule/containers.conf"))
    os.environ.setdefault("ANSIBLE_FORCE_COLOR", "0")
    os.environ.setdefault("PY_COLORS", "0")
    ensure_venv()
    for tier in a.tiers or TIERS:
        start = time.monotonic()
        print(f"=== {tier} ===", flush=True)
        globals()[tier]()
        print(f"=== {tier} passed in {time.monotonic() - start:.0f} s ===", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
