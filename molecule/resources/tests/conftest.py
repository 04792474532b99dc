"""The shared verify tests' fixtures: hubfixtures.py."""
from hubfixtures import *  # noqa: F401,F403
