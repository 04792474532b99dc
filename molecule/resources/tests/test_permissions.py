"""Secrets, homes and environments are fenced off from users."""
import pytest
from conftest import (ACCOUNT_ROLES, PAM, HubUser, account, firstuse_only, run_site, unit_props,
                      wait_for)


def as_user(host, user, command):
    return host.run(f"runuser -u {user} -- sh -c {command!r}")


def test_state_dir_is_root_only(host):
    d = host.file("/var/lib/hdfhub")
    assert (d.user, d.mode) == ("root", 0o700)


@pytest.mark.parametrize("secret", ["jupyterhub_cookie_secret", "proxy.env"])
def test_secrets_are_root_only(host, secret):
    f = host.file(f"/var/lib/hdfhub/{secret}")
    assert (f.user, f.mode) == ("root", 0o600)
    assert f.size > 32


def test_secrets_survive_a_reconverge_unchanged(host):
    # The idempotence run rewrote nothing: the secret is older than the config.
    secret = host.file("/var/lib/hdfhub/jupyterhub_cookie_secret").mtime
    config = host.file("/etc/hdfhub/jupyterhub_config.py").mtime
    assert secret <= config


@firstuse_only
@pytest.mark.parametrize("user", ["jupyter-alice", "jupyter-bob", "jupyter-admin"])
def test_precreated_homes_are_private(host, user):
    home = host.file(f"/home/{user}")
    assert home.is_directory
    assert (home.user, home.mode) == (user, 0o700)


@firstuse_only
def test_long_names_get_a_hashed_account(host):
    entries = host.check_output("getent passwd").splitlines()
    names = [e.split(":")[0] for e in entries if "hub user grace.hopper@example.org" in e]
    assert len(names) == 1
    assert names[0].startswith("jupyter-grace-hopper-") and len(names[0]) <= 32


@firstuse_only
def test_user_cannot_read_another_home(host):
    assert as_user(host, "jupyter-alice", "ls /home/jupyter-bob").rc != 0
    assert as_user(host, "jupyter-bob", "ls /home/jupyter-bob").rc == 0


def test_user_cannot_write_the_environment(host):
    r = as_user(host, account("alice"), "touch /opt/hdfhub/envs/hdf5/lib/x")
    assert r.rc != 0
    r = as_user(host, account("alice"),
                "/opt/hdfhub/envs/hdf5/bin/pip install --no-index nothing-here 2>&1; "
                "test -w /opt/hdfhub/envs/hdf5/lib/python3.11/site-packages")
    assert r.rc != 0


def test_user_cannot_read_hub_state(host):
    assert as_user(host, account("alice"), "cat /var/lib/hdfhub/proxy.env").rc != 0


def test_non_admin_cannot_sudo(host):
    assert as_user(host, account("alice"), "sudo -n true").rc != 0


@firstuse_only
def test_admin_can_sudo_when_allowed(host):
    assert as_user(host, "jupyter-admin", "sudo -n true").rc == 0


@firstuse_only
def test_groups(host):
    assert "jupyterhub-admins" in host.user("jupyter-admin").groups
    assert "jupyterhub-admins" not in host.user("jupyter-alice").groups
    assert "jupyterhub-users" in host.user("jupyter-alice").groups


@pytest.mark.skipif(not PAM, reason="only with PAM")
def test_pam_users_keep_their_own_accounts(host):
    for name in ("alice", "bob", "admin"):
        assert host.user(name).exists
        assert not host.user(f"jupyter-{name}").exists


@firstuse_only
def test_a_removed_admin_loses_sudo_at_the_next_converge(host, ca_file, admin):
    """bob made an admin, his server started with sudo; the next converge
    without him in hdfhub_admins takes the group, sudo and hub admin rights
    away, and stops that server, so his next one runs without sudo. Only the
    roles that read the admins run (tags)."""
    run = run_site({"hdfhub_admins": ["admin", "bob"]}, tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]
    bob = HubUser("bob", ca_file).login()
    bob.start()
    assert "jupyterhub-admins" in host.user("jupyter-bob").groups
    assert unit_props(host, "jupyter-bob", "NoNewPrivileges") == {"NoNewPrivileges": "no"}

    run = run_site({}, tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "jupyterhub-admins" not in host.user("jupyter-bob").groups
    assert "not allowed to run sudo" in host.run("sudo -l -U jupyter-bob").stdout
    assert host.run("systemctl is-active jupyter-bob").stdout.strip() != "active"
    assert admin.api("GET", "/hub/api/users/bob").json()["admin"] is False
    wait_for(lambda: bob.server() is None, 120, what="the hub to see bob's server gone")
    bob.start()
    try:
        assert unit_props(host, "jupyter-bob", "NoNewPrivileges") == {"NoNewPrivileges": "yes"}
        assert as_user(host, "jupyter-bob", "sudo -n true").rc != 0
    finally:
        bob.stop()
