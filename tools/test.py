#!/usr/bin/env python3
"""The project's test command: `python3 tools/test.py` (all tiers).

Tiers, in order (pick with arguments, e.g. `tools/test.py static`):
  static    yamllint, ansible-lint (production profile), syntax check,
            `vagrant validate` and the files the Vagrantfile names
  unit      pytest tests/ (filters, templates, and preflight against a
            throwaway container)
  converge  molecule scenarios, each: converge in a systemd container,
            idempotence, check mode, then testinfra and end-to-end verify
            - `default` (Debian 12) and `debian13`: the whole hub
            - `operations`: ACME certificates from Pebble, a test CA, and an
              in-place upgrade from the previous JupyterHub release
            - `backup`: back up, destroy the host, restore onto a fresh one
              (no idempotence or check run: `default` covers those)
            - `offline`: build a bundle on a connected container, then
              converge one with no network from it alone, with a conda
              environment from a local channel
            - `people`: log in against a real LDAP server (slapd, ldaps://)

Opt-in (only when named, e.g. `tools/test.py vagrant`; too slow for CI):
  vagrant   `vagrant up` of the Vagrantfile under QEMU on a box built here,
            checked from this machine, re-provisioned, destroyed
            (tests/vagrant/; about an hour on 2 cores)

Tools come from requirements-dev.txt (which includes requirements.txt),
installed into .venv on first use.
The unit and converge tiers need podman, runc, slirp4netns and debootstrap
on this machine (.ci/run installs them on Debian).
"""
import argparse
import hashlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
TIERS = ("static", "unit", "converge")
OPT_IN = ("vagrant",)
# Time budgets (seconds) that keep a CI run (90 min on 2 cores) well inside
# its limit: a hung step fails with a clear message instead of eating it all.
BUDGET = {"static": 600, "unit": 900, "scenario": 1800, "vagrant": 3 * 3600}
# molecule scenario -> Debian release of its image
SCENARIOS = {"default": "bookworm", "debian13": "trixie",
             "operations": "bookworm", "backup": "bookworm", "offline": "bookworm",
             "people": "bookworm"}


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
    run("vagrant", "validate", budget=BUDGET["static"])
    # validate checks neither the provisioner's files nor the provider blocks
    # of plugins it lacks: the files, at least, must exist.
    text = (ROOT / "Vagrantfile").read_text()
    named = re.findall(r'ansible\.(?:playbook|inventory_path) = "([^"]+)"', text) + \
        re.findall(r"/vagrant/(\S+\.py)", text)
    missing = [path for path in named if not (ROOT / path).exists()]
    if len(named) < 3 or missing:
        sys.exit(f"Vagrantfile: names files that don't exist: {missing or named}")


def unit():
    run(BIN / "python", "tools/build_image.py", "--release", "bookworm", budget=BUDGET["unit"])
    run(BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", "tests",
        "--ignore", "tests/vagrant", budget=BUDGET["unit"])


def converge():
    for scenario, release in SCENARIOS.items():
        run(BIN / "python", "tools/build_image.py", "--release", release, budget=BUDGET["unit"])
        run(BIN / "molecule", "test", "--scenario-name", scenario, budget=BUDGET["scenario"])


def vagrant():
    run(BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", "-v", "-s", "tests/vagrant",
        budget=BUDGET["vagrant"])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tiers", nargs="*", metavar="TIER", help=f"any of {', '.join(TIERS + OPT_IN)}")
    a = p.parse_args()
    unknown = set(a.tiers) - set(TIERS + OPT_IN)
    if unknown:
        p.error(f"unknown tier(s) {', '.join(sorted(unknown))}; choose from {', '.join(TIERS + OPT_IN)}")
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
