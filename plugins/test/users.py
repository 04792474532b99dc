"""Ansible test `hub_username`: is this a name someone can log in with, one
that maps to a Unix account and is not kept for guests?"""
import importlib.util
import os
import re

# The user model the hub_users role installs for the hub: Ansible and the
# hub map names by one rule.
_SPEC = importlib.util.spec_from_file_location(
    "hdfhub_users",
    os.path.join(os.path.dirname(__file__), "..", "..", "roles", "hub_users", "files", "hdfhub_users.py"))
_MODEL = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODEL)


def hub_username(name):
    return isinstance(name, str) and re.match(_MODEL.LOGIN_NAME_PATTERN, name) is not None


class TestModule:
    """hdfhub user-name tests."""

    def tests(self):
        return {"hub_username": hub_username}
