"""Workshop accounts (roles/workshop_accounts), in scenarios that make them
(HDFHUB_TEST_WORKSHOP_ACCOUNTS: how many, prefix ws). By verify time the
scenario has converged twice (idempotence), so the passwords tested here are
those of the first converge, kept by the second."""
import csv
import html.parser
import json
import os
import pathlib
import stat

import pytest

from hubfixtures import HubError, HubUser

COUNT = int(os.environ.get("HDFHUB_TEST_WORKSHOP_ACCOUNTS", "0"))
pytestmark = pytest.mark.skipif(not COUNT, reason="this scenario makes no workshop accounts")
HANDOUT = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "handout"


class Cards(html.parser.HTMLParser):
    """The name and password on each card of accounts.html."""

    def __init__(self):
        super().__init__()
        self.cards, self.field = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("class") == "card":
            self.cards.append({})
        elif tag == "code":
            self.field = attrs.get("class")

    def handle_data(self, data):
        if self.field:
            self.cards[-1][self.field] = data
            self.field = None


@pytest.fixture(scope="module")
def handout():
    with open(HANDOUT / "accounts.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_handout_lists_every_account_once(handout):
    names = [f"ws{i:02d}" for i in range(1, COUNT + 1)]
    assert [row["name"] for row in handout] == names
    assert len({row["password"] for row in handout}) == COUNT
    assert all(len(row["password"]) >= 14 for row in handout)
    assert {row["hub"] for row in handout} == {"https://hub.test/"}


def test_printable_handout_matches_the_csv(handout):
    cards = Cards()
    cards.feed((HANDOUT / "accounts.html").read_text())
    assert cards.cards == [{"name": r["name"], "password": r["password"]} for r in handout]
    assert "https://hub.test/hdfhub-ca.crt" in (HANDOUT / "accounts.html").read_text()


def test_handout_files_are_private():
    for name in ("accounts.csv", "accounts.html"):
        assert stat.S_IMODE((HANDOUT / name).stat().st_mode) == 0o600


def test_host_keeps_the_passwords_root_only(host, handout):
    store = host.file("/var/lib/hdfhub/workshop-accounts.json")
    assert (store.user, store.group, store.mode) == ("root", "root", 0o600)
    saved = json.loads(store.content_string)
    assert {r["name"]: r["password"] for r in handout}.items() <= saved.items()


def test_each_account_has_its_unix_account(host, handout):
    for row in handout:
        assert host.user(f"jupyter-{row['name']}").exists


def test_each_account_logs_in_with_its_handout_password(ca_file, handout):
    for row in handout:
        user = HubUser(row["name"], ca_file)
        user.password = row["password"]
        assert user.login().api("GET", "/hub/api/user").json()["name"] == row["name"]


def test_another_password_is_refused(ca_file, handout):
    """The password was set before anyone logged in: firstuse does not take a new one."""
    user = HubUser(handout[-1]["name"], ca_file)
    user.password = "not-" + handout[-1]["password"]
    with pytest.raises(HubError, match="failed: 403"):
        user.login()

