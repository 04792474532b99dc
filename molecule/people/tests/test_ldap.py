"""Logging in against a real directory: slapd (prepare.yml), over ldaps://
with bind templates, then over ldap:// with StartTLS and a search.

Who may log in is the hub's rule (hdfhub_ldap_allowed_groups, hdfhub_users,
hdfhub_admins); whether the password is right is the directory's.
"""
import pytest

from hubfixtures import ACCOUNT_ROLES, HubError, HubUser, password, run_site


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


@pytest.fixture(scope="module")
def starttls_search():
    """The hub re-converged to reach the directory over ldap:// with StartTLS
    and to find people by a search with a search account (slapd refuses any
    bind without TLS: prepare.yml sets olcSecurity ssf=1)."""
    run = run_site({"hdfhub_ldap_uri": "ldap://ldap.hub.test",
                    "hdfhub_ldap_bind_dn_templates": [],
                    "hdfhub_ldap_user_search_base": "ou=people,dc=hdfhub,dc=test",
                    "hdfhub_ldap_search_bind_dn": "cn=admin,dc=hdfhub,dc=test",
                    "hdfhub_ldap_search_bind_password": "verify-ldap-admin-password"},
                   tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]


def test_directory_refuses_binds_without_tls(host):
    """What makes the next test's logins proof of StartTLS: the same bind
    fails in the clear and succeeds after StartTLS."""
    probe = (
        "import ldap3, ssl\n"
        "tls = ldap3.Tls(validate=ssl.CERT_REQUIRED,"
        " ca_certs_file='/etc/ssl/certs/ca-certificates.crt')\n"
        "def bind(start_tls):\n"
        "    c = ldap3.Connection(ldap3.Server('ldap.hub.test', port=389, tls=tls),"
        " user='uid=ada,ou=people,dc=hdfhub,dc=test', password='verify-ada-password')\n"
        # No root DSE read first: slapd refuses StartTLS while an earlier
        # operation is still outstanding on its side, a race under load.
        "    c.open(read_server_info=False)\n"
        "    if start_tls:\n"
        "        c.start_tls()\n"
        "    return c.bind()\n"
        "print(bind(False), bind(True))\n"
    )
    assert host.check_output(f"/opt/hdfhub/hub/bin/python3 -c \"{probe}\"").split() == \
        ["False", "True"]


def test_starttls_and_search_let_the_right_people_in(starttls_search, ca_file):
    assert HubUser("ada", ca_file).login().token
    eve = HubUser("eve", ca_file)
    with pytest.raises(HubError, match="login of eve failed: 403"):
        eve.login()
    linus = HubUser("linus", ca_file)
    linus.password = "not-" + password("linus")
    with pytest.raises(HubError, match="login of linus failed"):
        linus.login()
