"""The backup scenario's verify tests use the shared fixtures (hub users
through nginx) of molecule/resources/tests/hubfixtures.py."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "resources" / "tests"))
import hubfixtures as shared  # noqa: E402
from hubfixtures import *  # noqa: E402,F401,F403


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory):
    """The hub's CA, read with the retrying `podman exec` of the tests here
    (the shared fixture goes through testinfra, which does not retry)."""
    from test_backup_restore import NAME, podman
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(podman("exec", NAME, "cat", f"{shared.TLS_DIR}/ca.crt"))
    return str(path)
