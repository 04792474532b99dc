"""Hub accounts log in only through the hub. SSH, su, cron and every other
PAM service would run them outside their server's unit and its limits."""
import re
import stat

import pytest
from conftest import (ADMIN_PASSWORDS, OUTSIDER, PAM, HubError, HubUser, account,
                      authorize_key, firstuse_only, ssh_as)


def su_as(host, user):
    """root's `su` to `user`: no password asked, so only the account stack decides."""
    return host.run(f"su -s /bin/sh -c 'id -un' {user}")


def test_sshd_lets_an_outside_account_in(host, ssh_key):
    r = ssh_as(host, OUTSIDER)
    assert (r.rc, r.stdout.strip()) == (0, OUTSIDER), r.stderr


@firstuse_only
@pytest.mark.parametrize("name", ["alice", "admin"])
def test_hub_accounts_cannot_ssh_in(host, ssh_key, name):
    authorize_key(host, account(name))
    r = ssh_as(host, account(name))
    assert r.rc != 0 and account(name) not in r.stdout


@pytest.mark.skipif(not PAM, reason="only with PAM")
def test_pam_people_keep_ssh(host, ssh_key):
    """With PAM, people use their own accounts, and the site decides."""
    authorize_key(host, account("alice"))
    r = ssh_as(host, account("alice"))
    assert (r.rc, r.stdout.strip()) == (0, account("alice")), r.stderr


def test_only_outside_accounts_pass_the_account_stack(host, ssh_key):
    assert su_as(host, OUTSIDER).stdout.strip() == OUTSIDER
    if not PAM:
        r = su_as(host, account("alice"))
        assert r.rc != 0 and account("alice") not in r.stdout


# What a terminal prints around the text: colours, title and mode switches.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def test_a_terminal_still_works(alice_server):
    out = ESCAPES.sub("", alice_server.run_in_terminal("id -un"))
    assert re.search(rf"^{re.escape(account('alice'))}$", out, re.MULTILINE), out


@firstuse_only
def test_an_admins_password_comes_from_the_converge(ca_file):
    """No one claims an admin's name by logging in first: the converge
    generated its password, into a file only its owner reads, and any other
    password is refused."""
    assert stat.S_IMODE(ADMIN_PASSWORDS.stat().st_mode) == 0o600
    stranger = HubUser("admin", ca_file)
    stranger.password = "a-stranger-password"
    with pytest.raises(HubError, match="failed: 403"):
        stranger.login()
    assert HubUser("admin", ca_file).login().token


@firstuse_only
def test_a_password_longer_than_bcrypt_reads_is_refused(ca_file):
    """bcrypt reads 72 bytes at most, and bcrypt 5 raises on more: such a
    password is refused like any wrong one (the hub used to answer 500)."""
    newcomer = HubUser("ws03", ca_file)  # a workshop account: it has a password
    newcomer.password = "x" * 73
    with pytest.raises(HubError, match="failed: 403"):
        newcomer.login()
