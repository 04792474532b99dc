#!/usr/bin/env python3
"""The project's test command: `python3 tools/test.py` (all tiers).

Tiers, in order (pick with arguments, e.g. `tools/test.py static`):
  static    yamllint, ansible-lint (production profile), syntax check
  unit      pytest tests/ (filters, templates, and preflight against a
            throwaway container)
  converge  molecule scenarios `default` (Debian 12) and `debian13`: converge
            in a systemd container, idempotence, then testinfra and
            end-to-end verify

Tools come from requirements-dev.txt, installed into .venv on first use.
The unit and converge tiers need podman, runc, slirp4netns and debootstrap
on this machine (.ci/run installs them on Debian).
"""
import argparse
import hashlib
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
TIERS = ("static", "unit", "converge")
# molecule scenario -> Debian release of its image
SCENARIOS = {"default": "bookworm", "debian13": "trixie"}


def run(*cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def ensure_venv():
    """Create .venv from requirements-dev.txt, again whenever that file changes."""
    reqs = ROOT / "requirements-dev.txt"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(reqs.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    run(sys.executable, "-m", "venv", "--clear", VENV)
    # uv (pinned in the same file) installs the rest several times faster than pip.
    uv_pin = next(line for line in reqs.read_text().splitlines() if line.startswith("uv=="))
    run(BIN / "pip", "install", "--quiet", uv_pin)
    run(BIN / "uv", "pip", "install", "--quiet", "--python", BIN / "python", "--requirement", reqs)
    stamp.write_text(digest)


def static():
    run(BIN / "yamllint", "--strict", ".")
    run(BIN / "ansible-lint", "--profile", "production")
    run(BIN / "ansible-playbook", "--syntax-check", "playbooks/site.yml")


def unit():
    run(BIN / "python", "tools/build_image.py", "--release", "bookworm")
    run(BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", "tests")


def converge():
    for scenario, release in SCENARIOS.items():
        run(BIN / "python", "tools/build_image.py", "--release", release)
        run(BIN / "molecule", "test", "--scenario-name", scenario)


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
