#!/usr/bin/python
"""Ansible module: make a venv hold exactly the pins of a lock file."""
import glob
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hdfgroup.hdfhub.plugins.module_utils import prebuilt
from ansible_collections.hdfgroup.hdfhub.plugins.module_utils.pip_lock import (
    build_requirements, from_source, normalize, read_lock)

DOCUMENTATION = r"""
module: venv
short_description: Make a Python venv hold exactly the packages of a lock file
description:
  - >-
    Creates the venv if needed and makes it hold exactly the C(name==version)
    pins of the lock, with uv (C(uv venv), C(uv pip sync), wheels only): what
    is missing or at another version is installed, what the lock does not list
    is removed.
  - >-
    Compares installed metadata with the lock first, so a venv in step reports
    no change without running uv, check mode tells the truth, and nothing is
    downloaded.
options:
  path:
    description: The venv directory.
    type: path
    required: true
  lock:
    description:
      - >-
        The lock's text, one C(name==version) per line (comments allowed),
        typically C(lookup('file', ...)) of a lock in the role.
      - >-
        A lock with C(--hash) options (tools/lock.py writes them) is installed
        with C(--require-hashes): every file must have one of its pin's
        hashes, wherever it comes from (PyPI, a mirror, an offline bundle).
        The build pins of its C(# hdfhub-build:) lines constrain, with their
        hashes, what the pins of its C(# hdfhub-from-source:) line are built
        with.
    type: str
    required: true
  python:
    description: Interpreter the venv is created from.
    type: path
    default: /usr/bin/python3
  uv:
    description: The uv executable.
    type: path
    required: true
  cache_dir:
    description: uv's wheel cache, shared by every venv so a wheel is fetched once.
    type: path
    required: true
  install_args:
    description: Extra C(uv pip sync) arguments, e.g. C(--offline) and C(--find-links=DIR).
    type: list
    elements: str
    default: []
  prebuilt:
    description:
      - >-
        An unpacked offline bundle. When the venv must change and the bundle
        carries one built at this path from this lock, that one is unpacked
        in its place instead, if it holds exactly the lock's pins; otherwise
        the venv is installed as usual (from the bundle's wheels).
    type: path
    default: ""
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
unpacked:
  description: The bundle's archive the venv was unpacked from, or empty if it was installed.
  type: str
  returned: always
site_packages:
  description: The venv's site-packages directory (where it is or will be).
  type: str
  returned: always
"""

def binary_args(pins, source):
    """uv arguments: wheels only, except for the pins built from source."""
    if not source:
        return ["--only-binary", ":all:"]
    return [arg for key, pin in sorted(pins.items()) if key not in source
            for arg in ("--only-binary", pin.name)]


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
    install = [f"{pin.name}=={pin.version}" for key, pin in sorted(pins.items())
               if installed.get(key) != pin.version]
    remove = sorted(set(installed) - set(pins))
    return install, remove


def site_packages(module, path, python):
    """lib/pythonX.Y/site-packages of the venv, from its base interpreter's version."""
    found = glob.glob(os.path.join(path, "lib", "python*", "site-packages"))
    if found:
        return found[0]
    _, out, _ = module.run_command(
        [python, "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"], check_rc=True)
    return os.path.join(path, "lib", out.strip(), "site-packages")


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "lock": {"type": "str", "required": True},
            "python": {"type": "path", "default": "/usr/bin/python3"},
            "uv": {"type": "path", "required": True},
            "cache_dir": {"type": "path", "required": True},
            "install_args": {"type": "list", "elements": "str", "default": []},
            "prebuilt": {"type": "path", "default": ""},
        },
        supports_check_mode=True,
    )
    path, p = module.params["path"], module.params
    try:
        pins = read_lock(p["lock"])
    except ValueError as e:
        module.fail_json(msg=f"bad lock for {path}: {e}")

    venv_python = os.path.join(path, "bin", "python")
    exists = os.path.exists(venv_python)
    install, remove = plan(pins, installed_in(path) if exists else {})
    changed = not exists or bool(install or remove)
    result = {"installed": install, "removed": remove, "unpacked": "",
              "site_packages": site_packages(module, path, p["python"])}
    if module.check_mode or not changed:
        module.exit_json(changed=changed, **result)

    archive = prebuilt.find(p["prebuilt"], path, p["lock"]) if p["prebuilt"] else None
    if archive and prebuilt.unpack(
            module, archive, path,
            lambda unpacked: os.path.exists(os.path.join(unpacked, "bin", "python"))
            and plan(pins, installed_in(unpacked)) == ([], [])):
        module.exit_json(changed=True, **{**result, "unpacked": archive})

    # Never fetch a Python (the venv is the system's); trust the system CA
    # store, which ca_trust manages, rather than uv's built-in roots.
    env = {"UV_CACHE_DIR": p["cache_dir"], "UV_PYTHON_DOWNLOADS": "never",
           "UV_NATIVE_TLS": "1", "UV_NO_PROGRESS": "1"}
    if not exists:
        module.run_command([p["uv"], "venv", "--quiet", "--python", p["python"], path],
                           check_rc=True, environ_update=env)
    hashes = (["--require-hashes"] if any(pin.hashes for pin in pins.values()) else [])
    build = build_requirements(p["lock"])
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as lockfile, \
            tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as buildfile:
        lockfile.write(p["lock"])
        lockfile.flush()
        buildfile.write("\n".join(build) + "\n")
        buildfile.flush()
        if build:
            hashes += ["--build-constraints", buildfile.name, "--require-build-hashes"]
        # --compile-bytecode: pip writes .pyc files and uv does not by default;
        # users cannot write them into the shared venv, so without them every
        # server start would compile its imports again (measured: 2.5x slower).
        module.run_command([p["uv"], "pip", "sync", "--quiet", "--python", venv_python,
                            *binary_args(pins, from_source(p["lock"])), *hashes,
                            "--compile-bytecode", *p["install_args"], lockfile.name],
                           check_rc=True, environ_update=env)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
