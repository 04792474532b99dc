"""Shared fixtures and helpers for verifying a converged hub. Each verify
directory's conftest.py imports them all (`from hubfixtures import *`).

`host` (testinfra) looks inside the container by entering its namespaces,
as the scenarios' Ansible connection does (NsenterBackend); HTTP(S) goes
from this machine through the ports the scenario publishes on loopback, so
every request crosses nginx and TLS as a browser's would. A container with
no network publishes nothing: HDFHUB_TEST_NETNS_OF=<container> makes this
process join its network namespace instead, before any thread starts.
"""
import csv
import ctypes
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
import testinfra
import testinfra.backend
from testinfra.backend import base

# The hub client is shared with the benchmarks (tools/hubclient.py).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tools"))
import hubclient  # noqa: E402
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "plugins" / "connection"))
import hdfhub_nsenter  # noqa: E402
# Re-exported: the tests import these from here.
from hubclient import HubError, KernelDied, wait_for  # noqa: E402,F401


def join_network_of(container):
    """Move this process into the container's network namespace (its loopback)."""
    pid = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", container],
                         capture_output=True, text=True, check=True).stdout.strip()
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns into {container}'s network namespace")
    finally:
        os.close(fd)


class NsenterBackend(base.BaseBackend):
    """testinfra's `nsenter://<container>`: a command costs milliseconds, not
    the runc start of its podman backend."""
    NAME = "nsenter"

    def __init__(self, name, *args, **kwargs):
        self.name = name
        super().__init__(name, *args, **kwargs)

    def run(self, command, *args, **kwargs):
        cmd = self.get_command(command, *args)
        proc = hdfhub_nsenter.enter(self.name, ["/bin/sh", "-c", cmd],
                                    stdin=subprocess.DEVNULL, capture_output=True)
        return self.result(proc.returncode, self.encode(cmd), proc.stdout, proc.stderr)


testinfra.backend.BACKENDS["nsenter"] = f"{__name__}.NsenterBackend"

if os.environ.get("HDFHUB_TEST_NETNS_OF"):
    join_network_of(os.environ["HDFHUB_TEST_NETNS_OF"])

# Each scenario publishes nginx on its own loopback ports (molecule.yml).
HTTPS_PORT = int(os.environ.get("HDFHUB_TEST_HTTPS_PORT", "8443"))
# The name the tests reach the hub by: it must be on the certificate.
HUB_NAME = os.environ.get("HDFHUB_TEST_HUB_NAME", "localhost")
HTTPS = f"https://{HUB_NAME}:{HTTPS_PORT}"
HTTP = f"http://127.0.0.1:{os.environ.get('HDFHUB_TEST_HTTP_PORT', '8080')}"
TLS_DIR = "/etc/hdfhub/tls"
# How the scenario's hub logs people in (its molecule.yml sets this): with
# firstuse, hub user NAME runs as jupyter-NAME, made by hdfhub; with pam, as
# the existing account NAME (made by the scenario's prepare playbook).
PAM = os.environ.get("HDFHUB_TEST_AUTH", "firstuse") == "pam"
firstuse_only = pytest.mark.skipif(PAM, reason="hdfhub makes no accounts with PAM")


def account(name):
    """The Unix account that hub user `name` runs as."""
    return name if PAM else f"jupyter-{name}"


@pytest.fixture(scope="session")
def guest(request):
    """The converged host, for session-scoped fixtures (testinfra's `host` is not)."""
    opts = request.config.option
    return testinfra.get_host(f"{opts.connection}://{opts.hosts}")


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory, guest):
    """The local CA certificate, copied out of the host."""
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(guest.file(f"{TLS_DIR}/ca.crt").content_string)
    return str(path)


def unit_props(host, unit, *names):
    """systemd properties of a unit inside the container, as a dict."""
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines())


# Where the converge writes the admins' generated passwords (firstuse); the
# shared molecule config puts every scenario's handout in its own directory.
ADMIN_PASSWORDS = pathlib.Path(
    os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "handout" / "admin-passwords.csv"


def password(name):
    """The password of hub user `name` in every verify run: an admin's is the
    one the converge generated, where it did; the others are fixed."""
    if ADMIN_PASSWORDS.exists():
        with open(ADMIN_PASSWORDS, newline="") as f:
            for row in csv.DictReader(f):
                if row["name"] == name:
                    return row["password"]
    return f"verify-{name}-password"


class HubUser(hubclient.HubUser):
    """One person using the hub through this scenario's nginx, as a browser would."""

    def __init__(self, name, ca_file):
        # firstuse: the first login sets it, fixed so that verify can re-run;
        # pam: molecule/resources/prepare_pam.yml gives the accounts this password.
        super().__init__(name, ca_file, HTTPS, password=password(name))


@pytest.fixture(scope="module")
def alice_server(alice):
    """alice with her server running, for one test module."""
    alice.start()
    yield alice
    alice.stop()


@pytest.fixture(scope="session")
def alice(ca_file):
    return HubUser("alice", ca_file).login()


@pytest.fixture(scope="session")
def admin(ca_file):
    return HubUser("admin", ca_file).login()


NSENTER = all(shutil.which(tool) for tool in ("nsenter", "unshare", "ip"))


class Peer:
    """Another machine on the host's network: a network namespace of this
    (the test) machine, wired to the container by a veth pair."""
    address = "198.51.100.1"       # the container's side
    peer_address = "198.51.100.2"  # the peer's

    def __init__(self, pid):
        self.pid = pid
        self.listeners = []

    def run(self, *cmd, **kw):
        return subprocess.run(["nsenter", "-t", self.pid, "-n", *cmd], **kw)

    def connect(self, port):
        """'open', 'refused' or 'timeout' for a TCP connect from the peer."""
        code = (f"import socket\ns = socket.socket(); s.settimeout(3)\n"
                f"try:\n    s.connect(({self.address!r}, {port})); print('open')\n"
                f"except ConnectionRefusedError: print('refused')\n"
                f"except OSError: print('timeout')\n")
        return self.run("python3", "-c", code, check=True, capture_output=True,
                        text=True).stdout.strip()

    def listen(self, port):
        """A TCP listener on the peer's address, until the fixture ends."""
        self.listeners.append(subprocess.Popen(
            ["nsenter", "-t", self.pid, "-n", "python3", "-m", "http.server", str(port),
             "--bind", self.peer_address], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


@pytest.fixture
def peer(request):
    """A Peer for one test. Needs root and iproute2 on the test machine; the
    namespace lives only as long as its `sleep`, and the veth pair with it."""
    if os.geteuid() != 0 or not NSENTER:
        pytest.skip("needs root and nsenter, unshare and ip on the test machine")
    name = request.config.option.hosts
    cpid = subprocess.run(["podman", "inspect", "-f", "{{.State.Pid}}", name], check=True,
                          capture_output=True, text=True).stdout.strip()
    sleeper = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    found = Peer(str(sleeper.pid))
    time.sleep(0.5)  # let unshare switch namespace before we look it up

    def ns(pid, *cmd):
        subprocess.run(["nsenter", "-t", pid, "-n", *cmd], check=True)

    try:
        ns(cpid, "ip", "link", "add", "hdfhubfw0", "type", "veth",
           "peer", "name", "hdfhubfw1", "netns", found.pid)
        ns(cpid, "ip", "addr", "add", f"{Peer.address}/30", "dev", "hdfhubfw0")
        ns(cpid, "ip", "link", "set", "hdfhubfw0", "up")
        ns(found.pid, "ip", "addr", "add", f"{Peer.peer_address}/30", "dev", "hdfhubfw1")
        ns(found.pid, "ip", "link", "set", "hdfhubfw1", "up")
        yield found
    finally:
        for proc in found.listeners:
            proc.kill()
            proc.wait()
        sleeper.kill()
        sleeper.wait()


# An SSH key of root's, and an account outside jupyterhub-users that may use
# it: the control that shows sshd and the key work where a hub account fails.
SSH_KEY = "/root/.ssh/hdfhub-probe"
OUTSIDER = "hdfhub-probe"


@pytest.fixture(scope="session")
def ssh_key(guest):
    guest.run_expect([0], f"test -f {SSH_KEY} || ssh-keygen -q -t ed25519 -N '' -f {SSH_KEY}")
    guest.run_expect([0], f"id {OUTSIDER} || useradd --create-home --shell /bin/sh {OUTSIDER}")
    authorize_key(guest, OUTSIDER)
    return SSH_KEY


def authorize_key(host, user):
    """Put the probe key into `user`'s authorized_keys, as they could."""
    account = host.user(user)
    owner = f"-o {user} -g {account.group}"
    host.run_expect([0], f"install -d -m 700 {owner} {account.home}/.ssh && "
                         f"install -m 600 {owner} {SSH_KEY}.pub {account.home}/.ssh/authorized_keys")


def ssh_as(host, user):
    """`id -un` over SSH to this host's loopback as `user`, with the probe key."""
    return host.run(f"ssh -i {SSH_KEY} -o BatchMode=yes -o StrictHostKeyChecking=no "
                    f"-o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 {user}@127.0.0.1 id -un")


# The roles that read who logs in, and as whom (site.yml's wiring): the
# authenticator, the admins and the workshop accounts. A test that changes
# only those converges only these (tags). workshop_accounts gives admins and
# named users their passwords with firstuse and native.
ACCOUNT_ROLES = ("hub_users", "jupyterhub", "workshop_accounts")


def run_site(extra_vars, playbook="site.yml", tags=()):
    """Run playbooks/<playbook> on this scenario's host, with the inventory
    molecule converges it with, and `extra_vars` on top; only `tags`' tasks
    if given."""
    repo = pathlib.Path(__file__).resolve().parents[3]
    inventory = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    cmd = [str(pathlib.Path(sys.executable).with_name("ansible-playbook")),
           "-i", str(inventory), str(repo / "playbooks" / playbook)]
    # As JSON, so that lists and numbers keep their types (paths become strings).
    cmd += ["-e", json.dumps(extra_vars, default=str)]
    if tags:
        cmd += ["--tags", ",".join(tags)]
    # The repository's ansible.cfg, not molecule's: its default callback
    # prints each failure on one line. The connection plugins stay.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") or k == "ANSIBLE_CONNECTION_PLUGINS"}
    env["ANSIBLE_CONFIG"] = str(repo / "ansible.cfg")
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=1800)


# Threads until a TasksMax stops them (they count as tasks); prints how many
# of `limit` started.
THREADS = """
import threading
stop, started = threading.Event(), 0
try:
    for _ in range({limit}):
        threading.Thread(target=stop.wait, daemon=True).start()
        started += 1
except RuntimeError:
    pass
stop.set()
print(started)
"""


def write_notebook(path, source):
    """A one-cell notebook at `path` for the hdf5 kernel, running `source`."""
    path.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "hdf5", "display_name": "Python 3 (HDF5)",
                                    "language": "python"}},
        "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": source}]}))
    return path
