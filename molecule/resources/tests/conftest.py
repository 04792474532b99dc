"""Shared fixtures for verifying a converged hub.

`host` (testinfra, podman backend) looks inside the container; HTTP(S) goes
from this machine through the ports the scenario publishes on loopback, so
every request crosses nginx and TLS as a browser's would.
"""
import os
import pathlib
import sys

import pytest
import testinfra

# The hub client is shared with the benchmarks (tools/hubclient.py).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tools"))
import hubclient  # noqa: E402
# Re-exported: the tests import these from here.
from hubclient import HubError, KernelDied, wait_for  # noqa: E402,F401

# Each scenario publishes nginx on its own loopback ports (molecule.yml).
HTTPS_PORT = int(os.environ.get("HDFHUB_TEST_HTTPS_PORT", "8443"))
HTTPS = f"https://localhost:{HTTPS_PORT}"
HTTP = f"http://127.0.0.1:{os.environ.get('HDFHUB_TEST_HTTP_PORT', '8080')}"
TLS_DIR = "/etc/hdfhub/tls"
# How the scenario's hub logs people in (its molecule.yml sets this): with
# firstuse, hub user NAME runs as jupyter-NAME, made by hdfhub; with pam, as
# the existing account NAME (made by the scenario's prepare playbook).
PAM = os.environ.get("HDFHUB_TEST_AUTH", "firstuse") == "pam"
firstuse_only = pytest.mark.skipif(PAM, reason="hdfhub makes no accounts with PAM")


def account(name):
    """The Unix account that hub user `name` runs as."""
    return name if PAM else f"jupyter-{name}"


@pytest.fixture(scope="session")
def guest(request):
    """The converged host, for session-scoped fixtures (testinfra's `host` is not)."""
    opts = request.config.option
    return testinfra.get_host(f"{opts.connection}://{opts.hosts}")


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory, guest):
    """The local CA certificate, copied out of the host."""
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(guest.file(f"{TLS_DIR}/ca.crt").content_string)
    return str(path)


def password(name):
    """The password of hub user `name` in every verify run."""
    return f"verify-{name}-password"


class HubUser(hubclient.HubUser):
    """One person using the hub through this scenario's nginx, as a browser would."""

    def __init__(self, name, ca_file):
        # firstuse: the first login sets it, fixed so that verify can re-run;
        # pam: molecule/resources/prepare_pam.yml gives the accounts this password.
        super().__init__(name, ca_file, HTTPS, password=password(name))


@pytest.fixture(scope="session")
def alice(ca_file):
    return HubUser("alice", ca_file).login()


@pytest.fixture(scope="session")
def admin(ca_file):
    return HubUser("admin", ca_file).login()
