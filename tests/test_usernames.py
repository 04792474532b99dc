"""The hub-name to Unix-account rule shared by Ansible and the spawner."""
import re
import string

import pytest

from conftest import load_module

# Debian's useradd: letters, digits, '_' and '-', not starting with '-'.
UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")


@pytest.mark.parametrize("name", ["alice", "bob_2", "x", "a-b", "0day"])
def test_short_safe_names_map_to_prefix_plus_name(users_model, name):
    assert users_model.unix_username(name) == "jupyter-" + name


@pytest.mark.parametrize("name", [
    "grace.hopper@example.org",
    "a" * 40,
    "first.last",
    "user@host",
])
def test_other_names_become_valid_unix_names(users_model, name):
    account = users_model.unix_username(name)
    assert account.startswith("jupyter-")
    assert len(account) <= 32
    assert UNIX_NAME.match(account), account


def test_cleaning_never_merges_two_names(users_model):
    names = ["a.b", "a-b", "a@b", "a_b", "x" * 24, "x" * 25, "x" * 26, "x" * 40]
    accounts = [users_model.unix_username(n) for n in names]
    assert len(set(accounts)) == len(names)


def test_rule_is_stable(users_model):
    # Pre-created accounts and first-login accounts must agree across runs.
    name = "grace.hopper@example.org"
    assert users_model.unix_username(name) == users_model.unix_username(name)


@pytest.mark.parametrize("name", ["Alice", "a b", "", "-x", "a/b", "a:b", ".x", None, 7])
def test_names_that_cannot_be_accounts_are_refused(users_model, name):
    with pytest.raises(ValueError, match="not a valid hub user name"):
        users_model.unix_username(name)


def test_every_printable_single_char_either_maps_or_is_refused(users_model):
    for ch in string.printable:
        try:
            account = users_model.unix_username(ch)
        except ValueError:
            continue
        assert UNIX_NAME.match(account), (ch, account)


def test_filter_and_test_plugins_use_the_module(users_model):
    filters = load_module("plugins/filter/users.py", "f").FilterModule()
    tests = load_module("plugins/test/users.py", "t").TestModule()
    assert filters.filters()["unix_username"]("a.b") == users_model.unix_username("a.b")
    assert tests.tests()["hub_username"]("alice")
    assert not tests.tests()["hub_username"]("Alice")


@pytest.mark.parametrize("name,ok", [
    ("alice", True), ("rooted", True), ("root", False), ("guest-1a2b", False), ("guests", True)])
def test_login_names_exclude_guests_and_root(users_model, name, ok):
    assert bool(re.match(users_model.LOGIN_NAME_PATTERN, name)) is ok


@pytest.mark.parametrize("accounts, names", [
    ({"count": 0, "prefix": "ws"}, []),
    ({"count": 3, "prefix": "ws"}, ["ws01", "ws02", "ws03"]),
    ({"count": 120, "prefix": "hdf-"}, ["hdf-001", "hdf-002"]),
])
def test_workshop_names_sort_as_numbered(users_model, accounts, names):
    workshop_names = load_module("plugins/filter/users.py", "f") \
        .FilterModule().filters()["workshop_names"]
    got = workshop_names(accounts)
    assert got[:2] == names[:2] and len(got) == accounts["count"]
    assert got == sorted(got)
    # Short, safe names: each account is jupyter-<name>, as the handout implies.
    assert all(users_model.unix_username(n) == f"jupyter-{n}" for n in got)


def test_only_accounts_that_differ_are_set():
    """What hub_users' user task loops over: nothing when every account is as
    it would make it; otherwise the missing and the different ones."""
    accounts_to_set = load_module("plugins/filter/users.py", "f") \
        .FilterModule().filters()["accounts_to_set"]
    passwd = {"jupyter-alice": ["x", "1001", "1001", "hub user alice", "/home/jupyter-alice", "/bin/bash"],
              "jupyter-bob": ["x", "1002", "1002", "hub user bob", "/home/jupyter-bob", "/bin/bash"]}
    group = {"jupyterhub-users": ["x", "990", "jupyter-alice,jupyter-bob"],
             "jupyterhub-admins": ["x", "991", "jupyter-alice"]}
    assert accounts_to_set(["alice", "bob"], ["alice"], passwd, group) == []
    # bob made an admin, carol new, alice with another shell or one more group.
    assert accounts_to_set(["alice", "bob", "carol"], ["alice", "bob"], passwd, group) == ["bob", "carol"]
    changed = {**passwd, "jupyter-alice": passwd["jupyter-alice"][:5] + ["/bin/sh"]}
    assert accounts_to_set(["alice"], ["alice"], changed, group) == ["alice"]
    assert accounts_to_set(["alice"], ["alice"], passwd, {**group, "docker": ["x", "5", "jupyter-alice"]}) \
        == ["alice"]
