"""The offline scenario's verify tests use the shared fixtures of
molecule/resources/tests/hubfixtures.py (which joins the container's network
namespace: HDFHUB_TEST_NETNS_OF in molecule.yml)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "resources" / "tests"))
from hubfixtures import *  # noqa: E402,F401,F403
