#!/usr/bin/python
"""Ansible module: make a venv hold exactly the pins of a lock file."""
import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: hdfhub_venv
short_description: Make a Python venv hold exactly the packages of a lock file
description:
  - Creates the venv if needed, installs every C(name==version) pin of the lock
    that is missing or at another version (wheels only, no dependency
    resolution), and removes packages the lock does not list.
  - Compares installed metadata with the lock first, so a venv in step reports
    no change, check mode tells the truth, and nothing is downloaded.
options:
  path:
    description: The venv directory.
    type: path
    required: true
  lockfile:
    description: Lock file on the host, one C(name==version) per line.
    type: path
    required: true
  python:
    description: Interpreter the venv is created from.
    type: path
    default: /usr/bin/python3
  pip_args:
    description: Extra pip install arguments, e.g. C(--no-index) and C(--find-links=DIR).
    type: list
    elements: str
    default: []
"""

RETURN = r"""
installed:
  description: Pins installed or changed.
  type: list
  returned: always
removed:
  description: Packages removed because the lock does not list them.
  type: list
  returned: always
"""

# The venv's own tooling, never in a lock and never removed.
KEEP = {"pip", "setuptools", "wheel"}


def normalize(name):
    """PEP 503 name: lower case, runs of -_. as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(text):
    """{normalized name: (name, version)} from 'name==version' lines."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if "==" not in line:
            raise ValueError(f"not a pin (name==version): {raw.strip()!r}")
        name, version = (part.strip() for part in line.split("==", 1))
        pins[normalize(name)] = (name, version)
    return pins


def installed_in(venv):
    """{normalized name: version} from the venv's dist-info metadata."""
    found = {}
    pattern = os.path.join(venv, "lib", "python*", "site-packages", "*.dist-info", "METADATA")
    for meta in glob.glob(pattern):
        name = version = None
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Name:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("Version:"):
                    version = line.split(":", 1)[1].strip()
                if (name and version) or line == "\n":
                    break
        if name and version:
            found[normalize(name)] = version
    return found


def plan(pins, installed):
    """(pins to install as 'name==version', names to remove)."""
    install = [f"{name}=={version}" for key, (name, version) in sorted(pins.items())
               if installed.get(key) != version]
    remove = sorted(set(installed) - set(pins) - KEEP)
    return install, remove


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "lockfile": {"type": "path", "required": True},
            "python": {"type": "path", "default": "/usr/bin/python3"},
            "pip_args": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    path, p = module.params["path"], module.params
    try:
        with open(p["lockfile"], encoding="utf-8") as f:
            pins = read_lock(f.read())
    except (OSError, ValueError) as e:
        module.fail_json(msg=f"cannot read lock {p['lockfile']}: {e}")

    venv_python = os.path.join(path, "bin", "python")
    exists = os.path.exists(venv_python)
    install, remove = plan(pins, installed_in(path) if exists else {})
    changed = not exists or bool(install or remove)
    if module.check_mode or not changed:
        module.exit_json(changed=changed, installed=install, removed=remove)

    if not exists:
        module.run_command([p["python"], "-m", "venv", path], check_rc=True)
    env = {"PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if install:
        module.run_command([venv_python, "-m", "pip", "install", "--no-deps",
                            "--only-binary=:all:", *p["pip_args"], *install],
                           check_rc=True, environ_update=env)
    if remove:
        module.run_command([venv_python, "-m", "pip", "uninstall", "--yes", *remove],
                           check_rc=True, environ_update=env)
    module.exit_json(changed=True, installed=install, removed=remove)


if __name__ == "__main__":
    main()
