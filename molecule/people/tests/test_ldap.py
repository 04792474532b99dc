"""Logging in against a real directory: slapd over ldaps:// (prepare.yml).

Who may log in is the hub's rule (hdfhub_ldap_allowed_groups, hdfhub_users,
hdfhub_admins); whether the password is right is the directory's.
"""
import pytest

from hubfixtures import HubError, HubUser, password


def test_group_member_logs_in_and_gets_a_server(host, ca_file):
    """ada is in hdf-users: her directory password lets her in, and her server
    runs as a jupyter-ada account the hub made for her."""
    ada = HubUser("ada", ca_file).login()
    ada.start()
    try:
        account = host.user("jupyter-ada")
        assert account.exists
        assert host.service("jupyter-ada").is_running
        assert host.check_output("systemctl show jupyter-ada -p User --value") == str(account.uid)
    finally:
        ada.stop()


def test_inventory_user_outside_the_group_logs_in(ca_file):
    """grace is not in the group; hdfhub_users lets her in all the same."""
    grace = HubUser("grace", ca_file).login()
    assert grace.api("GET", "/hub/api/user").json()["name"] == "grace"


def test_inventory_admin_is_hub_admin(ca_file):
    admin = HubUser("admin", ca_file).login()
    assert admin.api("GET", "/hub/api/user").json()["admin"] is True


def test_user_outside_the_group_is_refused(ca_file):
    """eve's password is right, but neither the group nor the inventory lets her in."""
    eve = HubUser("eve", ca_file)
    with pytest.raises(HubError, match="login of eve failed: 403"):
        eve.login()


@pytest.mark.parametrize("name, secret", [
    ("linus", "not-" + password("linus")),
    ("linus", ""),
    ("nobody", password("nobody")),
])
def test_wrong_password_or_unknown_person_is_refused(ca_file, name, secret):
    user = HubUser(name, ca_file)
    user.password = secret
    with pytest.raises(HubError, match=f"login of {name} failed"):
        user.login()


def test_directory_password_is_all_it_takes(ca_file):
    """Control for the refusals: linus, in the group, with the right password."""
    assert HubUser("linus", ca_file).login().token


def test_hub_checks_the_directory_certificate(host):
    """The hub verifies slapd's certificate against the host's CAs, where
    only hdfhub_extra_ca_certs put the directory's CA: the same TLS client
    the authenticator uses (ldap3, from the hub's venv) fails against a name
    the certificate does not carry."""
    probe = (
        "import ldap3, ssl, sys\n"
        "tls = ldap3.Tls(validate=ssl.CERT_REQUIRED,"
        " ca_certs_file='/etc/ssl/certs/ca-certificates.crt')\n"
        "def bind(name):\n"
        "    server = ldap3.Server(name, port=636, use_ssl=True, tls=tls)\n"
        "    try:\n"
        "        ldap3.Connection(server, auto_bind=True)\n"
        "        return 'ok'\n"
        "    except Exception as e:\n"
        "        return type(e).__name__\n"
        "print(bind('ldap.hub.test'), bind('localhost'))\n"
    )
    out = host.check_output(f"/opt/hdfhub/hub/bin/python3 -c \"{probe}\"")
    good, wrong_name = out.split()
    assert good == "ok"
    assert wrong_name != "ok"
