"""The conda scenario's verify tests: the shared fixtures (hub users through
nginx, the host's CA) from molecule/resources/tests/conftest.py."""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "hdfhub_shared_conftest",
    pathlib.Path(__file__).resolve().parents[2] / "resources" / "tests" / "conftest.py")
shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shared)

# Fixtures, found by pytest here because they are names in this module.
guest, ca_file, alice = shared.guest, shared.ca_file, shared.alice
account, wait_for = shared.account, shared.wait_for
