"""Removing workshop accounts on purpose (playbooks/remove_workshop_accounts.yml),
in scenarios that make them. A module of its own, after test_workshop.py,
because the host has one account less afterwards."""
import json
import os
import re

import pytest

from hubfixtures import HubError, HubUser, run_site
from test_workshop import COUNT, handout  # noqa: F401 (a fixture)

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
    fewer = {"hdfhub_workshop_accounts": {"count": COUNT - 1, "prefix": "ws"}}

    run = run_site(fewer, playbook="remove_workshop_accounts.yml")
    assert run.returncode == 0, run.stdout[-3000:]

    account = f"jupyter-{gone['name']}"
    assert admin.api("GET", f"/hub/api/users/{gone['name']}").status_code == 404
    assert not host.service(account).is_running
    assert not host.user(account).exists and not host.file(f"/home/{account}").exists
    archive = host.file(f"/var/backups/hdfhub-workshop-homes/{account}.tar.gz")
    assert (archive.user, archive.mode) == ("root", 0o600)
    assert host.check_output(f"tar -xzOf {archive.path} --wildcards '*/work.txt'") == token
    saved = json.loads(host.file("/var/lib/hdfhub/workshop-accounts.json").content_string)
    assert gone["name"] not in saved and saved[kept["name"]] == kept["password"]
    with pytest.raises(HubError, match="failed: 403"):
        user.login()
    survivor = HubUser(kept["name"], ca_file)
    survivor.password = kept["password"]
    assert survivor.login().token

    again = run_site(fewer, playbook="remove_workshop_accounts.yml")
    assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout[-3000:]
