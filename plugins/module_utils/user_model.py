"""The hub's user model, for the collection's filter and test plugins.

The jupyterhub role installs roles/jupyterhub/files/hdfhub/users.py on the
host, where the hub imports it; the plugins load the same file from the
collection, so that Ansible and the hub map names by one rule.
"""
import importlib.util
import os

_SPEC = importlib.util.spec_from_file_location(
    "hdfhub_users",
    os.path.join(os.path.dirname(__file__), "..", "..", "roles", "jupyterhub", "files", "hdfhub", "users.py"))
MODEL = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(MODEL)
