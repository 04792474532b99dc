"""Shared helpers for the unit tests: the repo root and the user-model module."""
import importlib.util
import pathlib
import subprocess

import pytest
from ansible.plugins.loader import init_plugin_loader

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The checkout as the collection hdfgroup.hdfhub, so that its plugins, loaded
# here by path, import each other by full name as they do in a play.
init_plugin_loader([str(ROOT / "collections")])


def load_module(relpath: str, name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Runner:
    """What module_utils' helpers use of an AnsibleModule: run_command."""

    def run_command(self, argv, check_rc=False):
        proc = subprocess.run(argv, capture_output=True, text=True, check=check_rc)
        return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="session")
def users_model():
    return load_module("roles/jupyterhub/files/hdfhub/users.py", "hdfhub_users")
