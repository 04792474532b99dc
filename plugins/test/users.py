"""Ansible test `hub_username`: is this a name someone can log in with, one
that maps to a Unix account and is not kept for guests?"""
import re

from ansible_collections.hdfgroup.hdfhub.plugins.module_utils.user_model import MODEL as _MODEL


def hub_username(name):
    return isinstance(name, str) and re.match(_MODEL.LOGIN_NAME_PATTERN, name) is not None


class TestModule:
    """hdfhub user-name tests."""

    def tests(self):
        return {"hub_username": hub_username}
