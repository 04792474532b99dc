"""Reading a pip lock as tools/lock.py writes it: `name==version` pins, each
with the sha256 of every file PyPI has for it (`--hash=sha256:...`, joined
to the pin by backslash continuations), under two header lines of ours:

    # hdfhub-from-source: onetimepass
    # hdfhub-build: setuptools==80.9.0 --hash=sha256:...

The first names the pure-Python pins PyPI has only as a source archive; the
second pins, with hashes, what building them needs. The venv module installs
from a lock and the bundle module downloads one; both read it here.
"""
import collections
import re

Pin = collections.namedtuple("Pin", "name version hashes")

_FROM_SOURCE = re.compile(r"^# hdfhub-from-source:(.*)$", re.MULTILINE)
_BUILD = re.compile(r"^# hdfhub-build:(.*)$", re.MULTILINE)
_HASH = re.compile(r"\s--hash=(\S+)")


def normalize(name):
    """PEP 503 name: lower case, runs of -_. as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(text):
    """Each requirement as one line: comments dropped, continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current = " ".join((current + line).split())
        if current:
            lines.append(current)
        current = ""
    return lines


def read_lock(text):
    """{normalized name: Pin(name, version, hashes)}; ValueError on a line
    that is no exact pin."""
    pins = {}
    for line in requirement_lines(text):
        hashes = tuple(_HASH.findall(" " + line))
        requirement = _HASH.sub("", " " + line).split(";", 1)[0].strip()
        if "==" not in requirement or requirement.startswith("-"):
            raise ValueError(f"not a pin (name==version): {line!r}")
        name, version = (part.strip() for part in requirement.split("==", 1))
        pins[normalize(name)] = Pin(name, version, hashes)
    return pins


def from_source(text):
    """Normalized names the lock lets be built from a source archive."""
    return {normalize(name) for found in _FROM_SOURCE.findall(text) for name in found.split()}


def build_requirements(text):
    """The lock's build pins, as requirement lines (hashes included)."""
    return [found.strip() for found in _BUILD.findall(text) if found.strip()]
