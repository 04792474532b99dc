"""Ansible filters `unix_username` (the same rule the hub's spawner uses) and
`workshop_names` (the hub names of hdfhub_workshop_accounts)."""
import importlib.util
import os

# The user model the hub_users role installs for the hub: Ansible and the
# hub map names by one rule.
_SPEC = importlib.util.spec_from_file_location(
    "hdfhub_users",
    os.path.join(os.path.dirname(__file__), "..", "..", "roles", "hub_users", "files", "hdfhub_users.py"))
_MODEL = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODEL)


def workshop_names(accounts):
    """{count: 12, prefix: ws} -> ws01 .. ws12: numbered from 1, zero-padded to
    at least two digits, so that the names sort as the handout lists them."""
    count = int(accounts.get("count", 0))
    width = max(2, len(str(count)))
    return [f"{accounts.get('prefix', 'ws')}{i:0{width}d}" for i in range(1, count + 1)]


class FilterModule:
    """hdfhub user-name filters."""

    def filters(self):
        return {"unix_username": _MODEL.unix_username, "workshop_names": workshop_names}
