#!/usr/bin/env python3
"""The project's test command: `python3 tools/test.py` (all tiers).

Tiers, in order (pick with arguments, e.g. `tools/test.py static`):
  static    yamllint, ansible-lint (production profile), syntax check,
            tools/check_structure.py (each role in its own room),
            `vagrant validate` and the files the Vagrantfile names, the docs
            site (mkdocs --strict) and its generated variable reference
  unit      pytest tests/ (filters, templates, and preflight against
            throwaway containers), on two workers
  converge  molecule scenarios, each: converge in a systemd container,
            idempotence, check mode, then testinfra and end-to-end verify
            - `default` (Debian 12) and `debian13`: the whole hub, each from a
              cold converge; `default` commits its converged host as the
              image `localhost/hdfhub-converged-debian12`
            - `people`: from that image, re-converged to log in against a
              real LDAP server (slapd, ldaps://), guests, lessons
            - `backup`: from that image; back up, destroy the host, restore
              onto a fresh one (no idempotence or check run: `default`
              covers those)
            - `operations`: ACME certificates from Pebble, a test CA, and an
              in-place upgrade from the previous JupyterHub release
            - `offline`: build a bundle on a connected container, then
              converge one with no network from it alone, with a conda
              environment from a local channel
            Scenarios run two at a time (`--lanes`): most of a scenario's
            time is spent waiting for servers, not on the CPU. Each one's log
            goes to artifacts/logs/<scenario>.log and is printed whole when it
            ends. A single scenario: `tools/test.py converge --scenario people`
            (with its image's scenario first, if the image is missing).

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
import concurrent.futures
import hashlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import support

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
LOGS = ROOT / "artifacts" / "logs"
TIERS = ("static", "unit", "converge")
OPT_IN = ("vagrant",)
# Time budgets (seconds) that keep a CI run (90 min on 2 cores) well inside
# its limit: a hung step fails with a clear message instead of eating it all.
BUDGET = {"static": 600, "unit": 900, "scenario": 2400, "vagrant": 3 * 3600}
# Scenarios in the order a free lane takes them, longest first so that the
# lanes finish together (people and backup wait for default's image, so
# operations and offline fill in). Each one's
# molecule.yml says which image its host starts from: a base image
# (tools/build_image.py) or the image another scenario's side_effect step
# commits (`commit_as`, molecule/resources/commit.yml), which it then waits for.
SCENARIOS = ("default", "debian13", "people", "operations", "offline", "backup")
TIMES = []  # (what, seconds, passed), for the summary at the end
FAILURES = []  # (scenario, the lines of its log that say why it failed)


def run(*cmd, budget=None, log=None):
    """Run cmd; stop it, and all it started, past its budget. False if it failed."""
    print("+", " ".join(map(str, cmd)), file=log or sys.stdout, flush=True)
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT if log else None)
    try:
        rc = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        print(f"over its time budget of {budget} s: {' '.join(map(str, cmd))}",
              file=log or sys.stdout, flush=True)
        return False
    if rc:
        print(f"failed with exit code {rc}: {' '.join(map(str, cmd))}",
              file=log or sys.stdout, flush=True)
    return rc == 0


def must(*cmd, budget=None):
    if not run(*cmd, budget=budget):
        sys.exit(1)


def ensure_venv():
    """Create .venv from requirements-dev.txt, again whenever a requirements file changes."""
    reqs = ROOT / "requirements-dev.txt"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(reqs.read_bytes() + (ROOT / "requirements.txt").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    must(sys.executable, "-m", "venv", "--clear", VENV)
    # uv (pinned in the same file) installs the rest several times faster than pip.
    uv_pin = next(line for line in reqs.read_text().splitlines() if line.startswith("uv=="))
    must(BIN / "pip", "install", "--quiet", uv_pin)
    must(BIN / "uv", "pip", "install", "--quiet", "--python", BIN / "python", "--requirement", reqs)
    stamp.write_text(digest)


class CgroupPins(threading.Thread):
    """Keep each running container's `name=systemd` cgroup from vanishing.

    On this host's cgroup v1 hybrid, a systemd container sees the whole
    `name=systemd` hierarchy as its own. Its podman cgroup there
    (libpod_parent/libpod-<id>) is empty, and when any other systemd
    container shuts down, that one removes it; `podman exec` into the first
    then fails ("error adding pid … cgroup.procs"). Moving the container's
    conmon into that cgroup keeps it non-empty; conmon uses no controller
    there, and when the container ends, podman removes the cgroup as usual.
    Every scan looks at every conmon afresh (pids are reused within a run).
    """
    ROOT = pathlib.Path("/sys/fs/cgroup/systemd/libpod_parent")

    def __init__(self):
        super().__init__(daemon=True)

    def run(self):
        while True:
            for proc in pathlib.Path("/proc").iterdir():
                if proc.name.isdigit():
                    self.pin(proc)
            time.sleep(0.2)

    def pin(self, proc):
        try:
            if (proc / "comm").read_text() != "conmon\n":
                return
            if not re.search(r"^\d+:name=systemd:/$", (proc / "cgroup").read_text(), re.M):
                return  # in a cgroup of its own there already
            args = (proc / "cmdline").read_text().split("\0")
            cgroup = self.ROOT / f"libpod-{args[args.index('-c') + 1]}"
            cgroup.mkdir(parents=True, exist_ok=True)
            (cgroup / "cgroup.procs").write_text(proc.name)
        except (OSError, ValueError, IndexError):
            pass  # gone already, not a container's conmon, or no such hierarchy


def static():
    must(BIN / "yamllint", "--strict", ".", budget=BUDGET["static"])
    must(BIN / "ansible-lint", "--profile", "production", budget=BUDGET["static"])
    must(BIN / "ansible-playbook", "--syntax-check", "playbooks/site.yml", budget=BUDGET["static"])
    must("vagrant", "validate", budget=BUDGET["static"])
    # Each role in its own room: no reads of another role's files, no
    # when: false imports, a validate.yml per role, the Python in plugins/.
    must(BIN / "python", "tools/check_structure.py", budget=BUDGET["static"])
    # Each release the support matrix calls tested has a scenario on its image.
    images = {Scenario(name).image for name in SCENARIOS}
    untested = [f"{s['distribution']} {s['version']}" for s in support.systems() if s["tested"]
                and f"localhost/hdfhub-{s['distribution'].lower()}{s['version']}:latest" not in images]
    if untested:
        sys.exit(f"the support matrix (tools/support.py) calls {', '.join(untested)} tested, "
                 "but no scenario starts from its image")
    # The docs site, and its variable reference current with the argument specs.
    must(BIN / "python", "tools/docs_reference.py", "--check", budget=BUDGET["static"])
    with tempfile.TemporaryDirectory(prefix="hdfhub-site-") as site:
        must(BIN / "mkdocs", "build", "--strict", "--quiet", "--site-dir", site,
             budget=BUDGET["static"])
    # validate checks neither the provisioner's files nor the provider blocks
    # of plugins it lacks: the files, at least, must exist.
    text = (ROOT / "Vagrantfile").read_text()
    named = re.findall(r'ansible\.(?:playbook|inventory_path) = "([^"]+)"', text) + \
        re.findall(r"/vagrant/(\S+\.py)", text)
    missing = [path for path in named if not (ROOT / path).exists()]
    if len(named) < 3 or missing:
        sys.exit(f"Vagrantfile: names files that don't exist: {missing or named}")


def unit():
    build_image("localhost/hdfhub-debian12:latest")
    must(BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "tests",
         "--ignore", "tests/vagrant", budget=BUDGET["unit"])


def build_image(tag):
    release = {f"localhost/hdfhub-debian{n}:latest": r for r, n in support.debian_releases().items()}
    must(BIN / "python", "tools/build_image.py", "--release", release[tag], budget=BUDGET["unit"])


def image_exists(tag):
    return subprocess.run(["podman", "image", "exists", tag]).returncode == 0


class Scenario:
    """A molecule scenario: the image its host starts from, and the one it commits."""

    def __init__(self, name):
        import yaml  # from .venv, which main() has gone on in
        self.name = name
        text = os.path.expandvars((ROOT / "molecule" / name / "molecule.yml").read_text())
        platform, = yaml.safe_load(text)["platforms"]
        self.image = platform["image"]
        self.commits = platform.get("commit_as")
        self.alone = platform.get("run_alone", False)
        self.start = None

    def run(self):
        """`molecule test`, logged to its own file; True if it passed."""
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / f"{self.name}.log", "w") as log:
            if not image_exists(self.image):
                print(f"no image {self.image}: the scenario that commits it "
                      "failed before it did, or did not run", file=log, flush=True)
                return False
            return run(BIN / "molecule", "test", "--scenario-name", self.name,
                       budget=BUDGET["scenario"], log=log)


def converge(names, lanes):
    """Run the scenarios `lanes` at a time, each as soon as its image is there."""
    scenarios = [Scenario(name) for name in names]
    made = {s.commits: s for s in scenarios if s.commits}
    for image in sorted({s.image for s in scenarios} - set(made)):
        if image.startswith("localhost/hdfhub-debian"):
            build_image(image)
    for image in made:
        # Made anew by this run: one left by an earlier run is stale.
        subprocess.run(["podman", "rmi", "--force", image], capture_output=True)
    waiting, running, failed = list(scenarios), {}, []
    with concurrent.futures.ThreadPoolExecutor(lanes) as pool:
        while waiting or running:
            for s in list(waiting):
                maker = made.get(s.image)
                maker_busy = maker in waiting or maker in running.values()
                # A scenario that must run alone (run_alone) goes last, by itself.
                others = [o for o in waiting if not o.alone]
                turn = not running and not others if s.alone else \
                    not any(r.alone for r in running.values())
                if turn and len(running) < lanes and (not maker_busy or image_exists(s.image)):
                    waiting.remove(s)
                    s.start = time.monotonic()
                    running[pool.submit(s.run)] = s
            done, _ = concurrent.futures.wait(running, timeout=5,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                s = running.pop(future)
                took, passed = time.monotonic() - s.start, future.result()
                TIMES.append((f"converge: {s.name}", took, passed))
                print((LOGS / f"{s.name}.log").read_text(), flush=True)
                print(f"=== scenario {s.name} {'passed' if passed else 'FAILED'} "
                      f"in {took:.0f} s ===", flush=True)
                if not passed:
                    failed.append(s.name)
                    FAILURES.append((s.name, failure_lines(LOGS / f"{s.name}.log")))
    if failed:
        sys.exit(f"scenarios failed: {', '.join(failed)} (logs in {LOGS})")


# Lines of a scenario's log that say why it failed: Ansible's and pytest's.
FAILURE = re.compile(r"^(fatal: |failed: |FAILED|E  |ERROR )")


def failure_lines(log, most=30):
    """The lines that say why, so they survive in CI's tail of the output."""
    lines = [line.rstrip()[:400] for line in log.read_text(errors="replace").splitlines()
             if FAILURE.match(line)]
    return lines[:most] + ([f"... {len(lines) - most} more in {log}"] if len(lines) > most else [])


def vagrant():
    must(BIN / "python", "-m", "pytest", "-p", "no:cacheprovider", "-v", "-s", "tests/vagrant",
         budget=BUDGET["vagrant"])


def summary():
    print("=== times ===")
    for what, took, passed in TIMES:
        print(f"{what:<24} {took:6.0f} s  {'passed' if passed else 'FAILED'}")
    for name, lines in FAILURES:
        print(f"=== why {name} failed ===", *lines, sep="\n")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tiers", nargs="*", metavar="TIER", help=f"any of {', '.join(TIERS + OPT_IN)}")
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                   help="converge only these scenarios (repeatable; default: all)")
    p.add_argument("--lanes", type=int, default=2, help="scenarios at a time (default 2)")
    a = p.parse_args()
    unknown = set(a.tiers) - set(TIERS + OPT_IN)
    if unknown:
        p.error(f"unknown tier(s) {', '.join(sorted(unknown))}; choose from {', '.join(TIERS + OPT_IN)}")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "molecule/containers.conf"))
    os.environ.setdefault("ANSIBLE_FORCE_COLOR", "0")
    os.environ.setdefault("PY_COLORS", "0")
    # Material for MkDocs prints an advert for its successor on every build.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    if pathlib.Path(sys.prefix) != VENV:
        # Go on in .venv once it is there: the tiers need its packages.
        start = time.monotonic()
        ensure_venv()
        print(f"=== tools (.venv) ready in {time.monotonic() - start:.0f} s ===", flush=True)
        os.execv(BIN / "python", [BIN / "python", __file__, *sys.argv[1:]])
    CgroupPins().start()
    try:
        for tier in a.tiers or TIERS:
            start = time.monotonic()
            print(f"=== {tier} ===", flush=True)
            try:
                if tier == "converge":
                    converge(a.scenario or list(SCENARIOS), a.lanes)
                else:
                    globals()[tier]()
            except SystemExit:
                TIMES.append((tier, time.monotonic() - start, False))
                raise
            TIMES.append((tier, time.monotonic() - start, True))
            print(f"=== {tier} passed in {time.monotonic() - start:.0f} s ===", flush=True)
    finally:
        summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
