"""Backup and restore for real: people and their files on one host, a
backup (playbooks/backup.yml) into a repository outside the container, the
container destroyed, a fresh one converged with site.yml, the snapshot
restored (playbooks/restore.yml), and then the same files, byte for byte,
the same HSDS domains, the same hub users, working logins and servers that
start.

The fresh host gets one extra account before its converge, so every hub
account has another UID than on the old host: restore.yml must give each
home back to the account of its name. `dave` is not in the inventory; only
the spawner made his account, so the fresh host lacks it until restore.yml.
"""
import contextlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import pytest
import yaml
from conftest import HubUser, account, password, shared

ROOT = pathlib.Path(__file__).resolve().parents[3]
# The ansible-playbook next to molecule's Python (.venv).
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).with_name("ansible-playbook"))
NAME = "hdfhub-backup"
PEOPLE = ["alice", "dave"]
# A file in the home, and a domain in the user's HSDS folder (HSDS is on in
# this scenario: its storage and salt are backed up with the hub).
CODE = """
import json, os, h5py, h5pyd, numpy as np
rng = np.random.default_rng()
with h5py.File("results/data.h5", "w") as f:
    f.create_dataset("x", data=rng.random((200, 50)), compression="gzip")
with open("results/blob.bin", "wb") as f:
    f.write(os.urandom(1 << 20))
with h5pyd.File(f"/home/{os.environ['HS_USERNAME']}/kept.h5", "w") as f:
    f.create_dataset("y", data=rng.random((100, 100)), chunks=(25, 100), compression="gzip")
"""
READ = """
import json, os, h5py, h5pyd
with h5py.File("results/data.h5") as f, h5pyd.File(f"/home/{os.environ['HS_USERNAME']}/kept.h5") as g:
    print(json.dumps([float(f["x"][()].sum()), float(g["y"][()].sum())]))
"""
NOTEBOOK = {"type": "notebook", "content": {
    "nbformat": 4, "nbformat_minor": 5, "metadata": {},
    "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [],
               "execution_count": None, "source": "import h5py\nprint(h5py.__version__)"}]}}


# On this CI host (cgroup v1, runc), `podman exec` now and then finds the
# container's cgroup gone for a moment; it is back a second later.
EXEC_FLAKE = "error adding pid"


def podman(*args):
    for _ in range(5):
        proc = subprocess.run(["podman", *args], capture_output=True, text=True)
        if proc.returncode == 0 or EXEC_FLAKE not in proc.stderr:
            break
        time.sleep(2)
    assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr[-2000:]}"
    return proc.stdout


def playbook(path, *args):
    """A playbook against the scenario's inventory; (seconds, output). Run
    once more after the exec flake: every playbook here may run twice."""
    start = time.monotonic()
    for _ in range(2):
        proc = subprocess.run(
            [ANSIBLE_PLAYBOOK, "-i", os.environ["MOLECULE_INVENTORY_FILE"], path, *args],
            cwd=ROOT, capture_output=True, text=True)
        if proc.returncode == 0 or EXEC_FLAKE not in proc.stdout + proc.stderr:
            break
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return took, proc.stdout


def files():
    """sha256 and owner of every file in the hub users' homes."""
    homes = " ".join(f"/home/{account(n)}" for n in PEOPLE)
    sums = podman("exec", NAME, "sh", "-c", f"find {homes} -type f -print0 | xargs -0 sha256sum")
    owners = podman("exec", NAME, "sh", "-c",
                    f"find {homes} -type f -print0 | xargs -0 stat -c '%U %n'")
    return ({line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in sums.splitlines()},
            {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in owners.splitlines()})


def uid(name):
    return int(podman("exec", NAME, "id", "-u", account(name)))


def recreate():
    """Destroy the container and create a fresh one with create.yml, as molecule does,
    from the base image: the scenario's own image holds a converged hub already."""
    podman("rm", "--force", NAME)
    scenario = yaml.safe_load(os.path.expandvars(
        (ROOT / "molecule/backup/molecule.yml").read_text()))
    platforms = [{**p, "image": "localhost/hdfhub-debian12:latest"} for p in scenario["platforms"]]
    return playbook("molecule/resources/create.yml",
                    "-e", json.dumps({"molecule_yml": {"platforms": platforms}}))[0]


HUGE = "huge.bin"
# A stand-in for a remote repository's credential: hdfhub_backup_environment
# in molecule.yml puts it in every restic call's environment.
SENTINEL = "sentinel-5d1e07c3a9b2"
# Run as nobody, without PAM (setpriv): reads every command line in /proc
# until told to stop. The sentinel comes reversed, so its own never matches.
POLL = """
import json, os, sys, time
sentinel, seen, hits = sys.argv[1][::-1].encode(), False, 0
while not os.path.exists("/tmp/poll.stop"):
    time.sleep(0.01)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                line = f.read()
        except OSError:
            continue
        seen = seen or b"restic" in line
        hits += sentinel in line
print(json.dumps({"restic_seen": seen, "hits": hits}))
"""


@contextlib.contextmanager
def command_lines_watched(found):
    """While the block runs, a user process polls every command line on the
    host; `found` gets whether it saw restic run and how often the sentinel."""
    with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
        script.write(POLL)
        script.flush()
        podman("cp", script.name, f"{NAME}:/tmp/poll.py")
    # The temporary file was 0600; nobody must read it.
    podman("exec", NAME, "chmod", "644", "/tmp/poll.py")
    podman("exec", NAME, "rm", "-f", "/tmp/poll.stop", "/tmp/poll.json")
    podman("exec", "-d", NAME, "sh", "-c",
           "setpriv --reuid=65534 --regid=65534 --clear-groups "
           f"python3 /tmp/poll.py {SENTINEL[::-1]} > /tmp/poll.json")
    try:
        yield
    finally:
        podman("exec", NAME, "touch", "/tmp/poll.stop")
        shared.wait_for(lambda: podman("exec", NAME, "cat", "/tmp/poll.json").strip(), 30,
                        what="the command-line poller to report")
        found.append(json.loads(podman("exec", NAME, "cat", "/tmp/poll.json")))


@pytest.fixture(scope="module")
def cycle(ca_file, admin):
    """Everything before the restore and after it, measured."""
    sums = {}
    for name in PEOPLE:
        user = HubUser(name, ca_file).login()
        user.start()
        r = user.api("PUT", f"/user/{name}/api/contents/results", json={"type": "directory"})
        assert r.status_code in (200, 201), r.text
        r = user.api("PUT", f"/user/{name}/api/contents/results/analysis.ipynb", json=NOTEBOOK)
        assert r.status_code in (200, 201), r.text
        user.run_code(CODE)
        sums[name] = json.loads(user.run_code(READ))
        user.stop()
    before = {"files": files(), "uids": {n: uid(n) for n in PEOPLE}, "sums": sums,
              "users": sorted(u["name"] for u in admin.api("GET", "/hub/api/users").json())}
    # Sparse, so it takes no room; over backup_max_file_size (1g), so left out.
    podman("exec", NAME, "runuser", "-u", account("alice"), "--",
           "truncate", "-s", "2G", f"/home/{account('alice')}/{HUGE}")
    took, watched = {}, []
    with command_lines_watched(watched):
        took["backup"], out = playbook("playbooks/backup.yml")
    snapshot = re.search(r"snapshot ([0-9a-f]{8,64})\b", out)
    assert snapshot, out[-3000:]
    assert re.search(r"size [0-9.]+ [KM]i?B in [0-9]+ files", out), out[-3000:]
    took["recreate"] = recreate()
    # Another account first: every hub account gets another UID than before.
    podman("exec", NAME, "useradd", "--create-home", "someone-else")
    with command_lines_watched(watched):
        took["converge"], _ = playbook("molecule/resources/converge.yml")
        assert podman("exec", NAME, "sh", "-c", f"getent passwd {account('dave')} || true") == ""
        took["restore"], _ = playbook("playbooks/restore.yml")
    before["command_lines"] = watched
    print(f"\nbackup scenario timings (s): {json.dumps({k: round(v) for k, v in took.items()})}")
    return before, snapshot.group(1)


def test_files_are_byte_identical(cycle):
    before, _ = cycle
    after = files()
    assert len(before["files"][0]) >= 2 * 3  # notebook, HDF5 file, blob per person at least
    assert after[0] == before["files"][0]


def test_files_over_the_size_limit_are_left_out(cycle):
    assert podman("exec", NAME, "sh", "-c",
                  f"test -e /home/{account('alice')}/{HUGE} && echo kept || echo left out"
                  ).strip() == "left out"


def test_homes_belong_to_the_accounts_of_the_same_name(cycle):
    before, _ = cycle
    # The UIDs did change, so restic's numeric owners alone would be wrong.
    assert all(uid(n) != before["uids"][n] for n in PEOPLE)
    assert files()[1] == before["files"][1]
    for name in PEOPLE:
        home = podman("exec", NAME, "stat", "-c", "%U %a", f"/home/{account(name)}").split()
        assert home == [account(name), "700"]


def test_same_hub_users(cycle, ca_file):
    before, _ = cycle
    admin = HubUser("admin", ca_file).login()
    assert sorted(u["name"] for u in admin.api("GET", "/hub/api/users").json()) == before["users"]


def test_old_passwords_still_hold(cycle, ca_file):
    # firstuse: a wrong password for a known name fails only if the
    # password database came back (otherwise it would set a new one).
    wrong = shared.hubclient.HubUser("alice", ca_file, shared.HTTPS, password="not-" + password("alice"))
    with pytest.raises(shared.HubError):
        wrong.login()


def test_servers_start_and_read_the_restored_files(cycle, ca_file):
    before, _ = cycle
    for name in PEOPLE:
        user = HubUser(name, ca_file).login()
        user.start()
        try:
            assert json.loads(user.run_code(READ)) == before["sums"][name]
            r = user.api("GET", f"/user/{name}/api/contents/results/analysis.ipynb")
            assert r.status_code == 200 and r.json()["type"] == "notebook", r.text
        finally:
            user.stop()


def test_backup_timer_runs_again(cycle):
    assert podman("exec", NAME, "systemctl", "is-active", "hdfhub-backup.timer").strip() == "active"
    podman("exec", NAME, "systemctl", "start", "hdfhub-backup.service")
    last = json.loads(podman("exec", NAME, "cat", "/var/lib/hdfhub/backup/last-backup.json"))
    assert last["snapshot_id"][:8] != cycle[1]


def test_backup_credentials_never_reach_a_command_line(cycle):
    """While backup.yml, a converge and restore.yml ran restic, a user process
    reading /proc never saw the repository credential; it did see restic run."""
    before, _ = cycle
    assert before["command_lines"] == [{"restic_seen": True, "hits": 0}] * 2
