"""Removing workshop accounts on purpose (playbooks/remove_workshop_accounts.yml),
in scenarios that make them. A module of its own, after test_workshop.py,
because the host has one account less afterwards."""
import csv
import json
import os
import re
import shlex

import pytest

from hubfixtures import ACCOUNT_ROLES, HubError, HubUser, run_site
from test_workshop import COUNT, HANDOUT, handout  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(not COUNT, reason="this scenario makes no workshop accounts")


def test_removing_an_account_archives_its_home_and_keeps_the_others(host, ca_file, handout,
                                                                    admin):
    """Lowering count and running playbooks/remove_workshop_accounts.yml removes
    the last account everywhere, with its work in an archive (the default);
    the others keep their passwords."""
    gone, kept = handout[-1], handout[0]
    user = HubUser(gone["name"], ca_file)
    user.password = gone["password"]
    user.login().start()
    token = os.urandom(8).hex()
    put = user.api("PUT", f"/user/{gone['name']}/api/contents/work.txt",
                   json={"type": "file", "format": "text", "content": token})
    assert put.status_code in (200, 201), put.text
    hsds = host.file("/etc/systemd/system/hdfhub-hsds.service").exists
    if hsds:
        # Its HSDS folder goes the way of its home, and its credentials stop working.
        hs_password = user.run_code("""
import os, h5pyd
with h5pyd.File(f"/home/{os.environ['HS_USERNAME']}/work.h5", "w") as f:
    f["x"] = list(range(10))
print(os.environ["HS_PASSWORD"])
""").strip().splitlines()[-1]
        assert hsds_status(host, gone["name"], hs_password) == 200
    fewer = {"hdfhub_workshop_accounts": {"count": COUNT - 1, "prefix": "ws"}}

    run = run_site(fewer, playbook="remove_workshop_accounts.yml", tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]

    account = f"jupyter-{gone['name']}"
    assert admin.api("GET", f"/hub/api/users/{gone['name']}").status_code == 404
    assert not host.service(account).is_running
    assert not host.user(account).exists and not host.file(f"/home/{account}").exists
    archive = host.file(f"/var/backups/hdfhub-workshop-homes/{account}.tar.gz")
    assert (archive.user, archive.mode) == ("root", 0o600)
    assert host.check_output(f"tar -xzOf {archive.path} --wildcards '*/work.txt'") == token
    if hsds:
        kept_hsds = host.file(f"/var/backups/hdfhub-workshop-homes/{gone['name']}-hsds.tar.gz")
        assert (kept_hsds.user, kept_hsds.mode) == ("root", 0o600)
        assert host.check_output(f"tar -tzf {kept_hsds.path}").split() == [
            f"{gone['name']}-hsds/", f"{gone['name']}-hsds/work.h5"]
        assert hsds_status(host, gone["name"], hs_password) == 401
    saved = json.loads(host.file("/var/lib/hdfhub/workshop-accounts.json").content_string)
    assert gone["name"] not in saved and saved[kept["name"]] == kept["password"]
    with pytest.raises(HubError, match="failed: 403"):
        user.login()
    survivor = HubUser(kept["name"], ca_file)
    survivor.password = kept["password"]
    assert survivor.login().token

    again = run_site(fewer, playbook="remove_workshop_accounts.yml", tags=ACCOUNT_ROLES)
    assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout[-3000:]


def hsds_status(host, name, password):
    """The status of reading /shared/sample.h5 in HSDS with these credentials, through
    nginx on loopback."""
    code = f"""
import base64, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1:5101/?domain=/shared/sample.h5")
request.add_header("Authorization", "Basic " + base64.b64encode(b"{name}:{password}").decode())
try:
    print(urllib.request.urlopen(request, timeout=30).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""
    return int(host.check_output(f"python3 -c {shlex.quote(code)}"))


HUB_PYTHON = "/opt/hdfhub/hub/bin/python3"
PASSWORDS = "/var/lib/hdfhub/passwords.dbm"


def on_host(host, code, *args):
    """Run Python `code` with the hub's interpreter on the host; its output."""
    return host.check_output(f"{HUB_PYTHON} -c {shlex.quote(code)} "
                             + " ".join(shlex.quote(a) for a in args))


def stored(host, name):
    """True if the hub's firstuse password file holds a hash for `name`."""
    return on_host(host, "import dbm, sys; print(sys.argv[1].encode() in dbm.open(sys.argv[2]))",
                   name, PASSWORDS) == "True"


def test_no_one_claims_a_name_before_the_converge_gives_it(host, ca_file, handout):
    """The removed account's name and names never listed: a login attempt
    stores nothing. A hash planted as an older hub would have stored it is
    replaced when a converge makes the account again: the new handout's
    password logs in, the stranger's does not."""
    name = handout[-1]["name"]  # removed by the test above
    for stranger in (name, "mallory", "admin2", "guest-0000"):
        user = HubUser(stranger, ca_file)
        user.password = "a-stranger-password"
        with pytest.raises(HubError, match="failed: 403"):
            user.login()
        assert not stored(host, stranger)
    on_host(host, "import bcrypt, dbm, sys; dbm.open(sys.argv[2], 'w')[sys.argv[1]] = "
                  "bcrypt.hashpw(b'a-stranger-password', bcrypt.gensalt())", name, PASSWORDS)

    run = run_site({}, tags=ACCOUNT_ROLES)  # the scenario's own count again
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(rf"did not set .*: {name}\.", run.stdout), run.stdout[-3000:]

    with open(HANDOUT / "accounts.csv", newline="") as f:
        again = {row["name"]: row["password"] for row in csv.DictReader(f)}
    assert again[name] != handout[-1]["password"]
    user = HubUser(name, ca_file)
    user.password = "a-stranger-password"
    with pytest.raises(HubError, match="failed: 403"):
        user.login()
    user.password = again[name]
    assert user.login().token
