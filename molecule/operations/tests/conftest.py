"""The operations scenario's verify tests: the shared fixtures of
molecule/resources/tests/hubfixtures.py, with Pebble's root as the trust anchor
and the hub reached by its name, as on a public server."""
import pathlib
import socket
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "resources" / "tests"))
from hubfixtures import *  # noqa: E402,F401,F403
from hubfixtures import HUB_NAME as DOMAIN  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def hub_name_resolves_to_loopback():
    """The hub's name (HDFHUB_TEST_HUB_NAME, on its certificate) leads to the
    published port on loopback, like a hosts entry, for this process only."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == DOMAIN else host, *args, **kwargs)

    socket.getaddrinfo = resolve
    yield
    socket.getaddrinfo = real


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory, guest):
    """Pebble's root certificate (made anew each time Pebble starts), from its
    management endpoint inside the container."""
    pem = guest.check_output("python3 -c \"import urllib.request; print(urllib.request"
                             ".urlopen('https://localhost:15000/roots/0').read().decode())\"")
    assert "BEGIN CERTIFICATE" in pem
    path = tmp_path_factory.mktemp("pebble") / "root.pem"
    path.write_text(pem + "\n")
    return str(path)
