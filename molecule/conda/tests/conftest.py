"""The conda scenario's verify tests use the shared fixtures (hub users
through nginx, the host's CA) of molecule/resources/tests/hubfixtures.py."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "resources" / "tests"))
from hubfixtures import *  # noqa: E402,F401,F403
