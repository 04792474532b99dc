"""The people scenario's verify tests: the shared fixtures of
molecule/resources/tests/hubfixtures.py."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "resources" / "tests"))
from hubfixtures import *  # noqa: E402,F401,F403
