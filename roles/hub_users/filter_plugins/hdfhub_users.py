"""Ansible filter `unix_username`: the same rule the hub's spawner uses."""
import importlib.util
import os

_SPEC = importlib.util.spec_from_file_location(
    "hdfhub_users",
    os.path.join(os.path.dirname(__file__), "..", "files", "hdfhub_users.py"))
_MODEL = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODEL)


class FilterModule:
    """hdfhub user-name filters."""

    def filters(self):
        return {"unix_username": _MODEL.unix_username}
