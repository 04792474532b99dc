"""The support matrix, read from the one place it is written
(roles/preflight/vars/main.yml, `__preflight_systems`): preflight accepts
these systems, tools/lock.py checks every pin has a wheel for their
Pythons, tools/build_image.py builds the tested Debian releases and
tools/test.py checks each has a scenario. PyYAML is imported when asked,
so tools/test.py can import this before its venv exists."""
import pathlib

MATRIX = pathlib.Path(__file__).resolve().parents[1] / "roles/preflight/vars/main.yml"


def systems():
    import yaml
    return yaml.safe_load(MATRIX.read_text())["__preflight_systems"]


def debian_releases():
    """The tested Debian releases, codename: version (bookworm: '12')."""
    return {s["codename"]: s["version"] for s in systems()
            if s["distribution"] == "Debian" and s["tested"]}


def pythons():
    """Each supported system's Python, the first system's first."""
    return list(dict.fromkeys(s["python"] for s in systems()))
