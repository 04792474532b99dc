"""Ansible filters `unix_username` (the same rule the hub's spawner uses),
`workshop_names` (the hub names of hdfhub_workshop_accounts),
`handout_passwords` (name to password, from a handout CSV) and
`accounts_to_set` (the hub names whose Unix account is missing or differs)."""
import csv
import io

from ansible_collections.hdfgroup.hdfhub.plugins.module_utils.user_model import MODEL as _MODEL


def workshop_names(accounts):
    """{count: 12, prefix: ws} -> ws01 .. ws12: numbered from 1, zero-padded to
    at least two digits, so that the names sort as the handout lists them."""
    count = int(accounts.get("count", 0))
    width = max(2, len(str(count)))
    return [f"{accounts.get('prefix', 'ws')}{i:0{width}d}" for i in range(1, count + 1)]


# What a handout says instead of a password its owner has changed on the hub.
CHANGED = "(changed on the hub)"


def handout_passwords(text):
    """The CSV text of a handout (name,password,hub) -> {name: password},
    leaving out the passwords people have since changed on the hub. Empty
    text (no handout yet) gives {}."""
    return {row["name"]: row["password"] for row in csv.DictReader(io.StringIO(text or ""))
            if row.get("name") and row.get("password") and row["password"] != CHANGED}


def accounts_to_set(names, admins, passwd, group):
    """The hub names among `names` whose Unix account hub_users must create
    or correct: missing, another comment or shell, or other supplementary
    groups than jupyterhub-users (and jupyterhub-admins for `admins`).
    `passwd` and `group` are getent's facts (getent_passwd, getent_group),
    so that a converge with nothing to change calls no user module."""
    member_of = {}
    for name, fields in group.items():
        for member in filter(None, (fields[2] if len(fields) > 2 else "").split(",")):
            member_of.setdefault(member, set()).add(name)
    wrong = []
    for name in names:
        account = _MODEL.unix_username(name)
        fields = passwd.get(account)
        groups = {"jupyterhub-users"} | ({"jupyterhub-admins"} if name in admins else set())
        if (fields is None or fields[3] != f"hub user {name}" or fields[5] != "/bin/bash"
                or member_of.get(account, set()) != groups):
            wrong.append(name)
    return wrong


class FilterModule:
    """hdfhub user-name filters."""

    def filters(self):
        return {"unix_username": _MODEL.unix_username, "workshop_names": workshop_names,
                "handout_passwords": handout_passwords, "accounts_to_set": accounts_to_set}
