"""In-place upgrade. The scenario's converge installed the previous JupyterHub
major version (hub-previous.lock); converging again with the role's own lock
must upgrade it: the database migrated (and copied aside first), hub users,
homes and running servers kept, new servers spawning, and no secret in the
playbook's output."""
import pathlib
import random
import re

import pytest

from conftest import HubUser, account, run_site

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
BIN = "/opt/hdfhub/hub/bin"
STATE = "/var/lib/hdfhub"


def pin(lock):
    return re.search(r"^jupyterhub==([^\s\\]+)", lock.read_text(), re.M).group(1)


def hub_version(host):
    return host.check_output(f"{BIN}/jupyterhub --version")


def db_revision(host):
    return host.check_output(
        f"{BIN}/python -c \"import sqlite3; print(sqlite3.connect('{STATE}/jupyterhub.sqlite')"
        ".execute('select version_num from alembic_version').fetchone()[0])\"")


def head_revision(host):
    """The newest migration the installed JupyterHub ships."""
    return host.check_output(
        f"{BIN}/python -c \"import os, jupyterhub; from alembic.config import Config; "
        "from alembic.script import ScriptDirectory; c = Config(); c.set_main_option("
        "'script_location', os.path.join(os.path.dirname(jupyterhub.__file__), 'alembic')); "
        "print(ScriptDirectory.from_config(c).get_current_head())\"")


def main_pid(host, unit):
    return host.check_output(f"systemctl show -p MainPID --value {unit}")


@pytest.fixture(scope="module")
def before(host, alice, admin):
    """The old hub in use: alice's server running, a kernel variable, files."""
    old = pin(HERE.parent / "hub-previous.lock")
    assert hub_version(host) == old
    assert db_revision(host) == head_revision(host)
    alice.start()
    marker = random.randint(1, 10**9)
    kernel = alice.new_kernel()
    ws = alice.connect(kernel)
    alice.execute(ws, f"x = {marker}")
    ws.close()
    alice.check_hdf5()
    home = host.user(account("alice")).home
    data = host.check_output(f"sha256sum {home}/hdfhub-check.h5")
    users = sorted(u["name"] for u in admin.api("GET", "/hub/api/users").json())
    return {"version": old, "revision": db_revision(host), "kernel": kernel, "x": marker,
            "pid": main_pid(host, "jupyter-alice"), "data": data, "home": home,
            "users": users}


@pytest.fixture(scope="module")
def upgrade(host, before):
    secrets = [host.check_output(f"cat {STATE}/jupyterhub_cookie_secret"),
               host.check_output(f"sed -n 's/^CONFIGPROXY_AUTH_TOKEN=//p' {STATE}/proxy.env")]
    run = run_site({"jupyterhub_lock_file": "hub.lock"})
    assert run.returncode == 0, run.stdout[-3000:]
    assert all(len(s) >= 32 for s in secrets)
    return run, secrets


def test_hub_runs_the_new_release(host, upgrade):
    assert hub_version(host) == pin(REPO / "roles/jupyterhub/files/hub.lock")
    assert host.service("jupyterhub").is_running


def test_database_is_migrated_and_was_copied_aside(host, before, upgrade):
    revision = db_revision(host)
    assert revision == head_revision(host)
    assert revision != before["revision"]
    copies = host.check_output(f"ls {STATE}").split()
    assert any(name.startswith("jupyterhub.sqlite.") for name in copies), copies


def test_users_and_homes_are_kept(host, admin, before, upgrade):
    assert sorted(u["name"] for u in admin.api("GET", "/hub/api/users").json()) == before["users"]
    assert host.check_output(f"sha256sum {before['home']}/hdfhub-check.h5") == before["data"]


def test_running_server_survives_with_its_kernel(host, alice, before, upgrade):
    assert main_pid(host, "jupyter-alice") == before["pid"]
    alice.status_ok()
    ws = alice.connect(before["kernel"])
    try:
        assert alice.execute(ws, "print(x)").strip() == str(before["x"])
    finally:
        ws.close()


def test_new_servers_spawn_after_the_upgrade(ca_file, upgrade):
    bob = HubUser("bob", ca_file).login()
    bob.start()
    try:
        bob.check_hdf5()
    finally:
        bob.stop()


def test_no_secret_in_the_playbook_output(upgrade):
    run, secrets = upgrade
    for secret in secrets:
        assert secret not in run.stdout and secret not in run.stderr
