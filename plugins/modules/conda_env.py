#!/usr/bin/python
"""Ansible module: make a conda environment hold exactly the packages of an explicit lock."""
import asyncio
import glob
import json
import os
import sys
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hdfgroup.hdfhub.plugins.module_utils import prebuilt

DOCUMENTATION = r"""
module: conda_env
short_description: Make a conda environment hold exactly the packages of an explicit lock
description:
  - Installs the packages of an explicit lock (C(@EXPLICIT), one
    C(URL#sha256:HEX) a line, as written by C(tools/conda_lock.py)) into a
    prefix with py-rattler, from the channel given here rather than the one
    in the URLs, so one lock serves conda-forge and its mirrors. Packages the
    lock does not list are removed.
  - Compares the prefix's C(conda-meta) records with the lock first (standard
    library only), so an environment in step reports no change, loads no
    repodata and downloads nothing, and check mode tells the truth.
  - Each package's sha256 in the channel must equal the lock's; the installer
    then checks every download against it.
options:
  path:
    description: The environment's prefix.
    type: path
    required: true
  lock:
    description: The lock's text, typically C(lookup('file', ...)).
    type: str
    required: true
  channel:
    description:
      - Channel to install from; a name (C(conda-forge)) or a URL
        (C(https://mirror/conda-forge), C(file:///srv/channel)).
    type: str
    default: conda-forge
  rattler_venv:
    description: A venv holding py-rattler, made from the same Python that runs this module.
    type: path
    required: true
  cache_dir:
    description: Rattler's cache of repodata and packages, shared by every environment.
    type: path
    required: true
  prebuilt:
    description:
      - >-
        An unpacked offline bundle. When the environment must change and the
        bundle carries one built at this prefix from this lock, that one is
        unpacked in its place instead, if its records match the lock;
        otherwise it is installed as usual (from the bundle's channel).
    type: path
    default: ""
"""

RETURN = r"""
installed:
  description: Package files installed or replaced.
  type: list
  returned: always
removed:
  description: Packages removed because the lock does not list them.
  type: list
  returned: always
unpacked:
  description: The bundle's archive the environment was unpacked from, or empty if it was installed.
  type: str
  returned: always
"""

# Rattler reads the system's CA store, so the certificates the ca_trust role
# installs apply (by default it trusts only its built-in roots).
RATTLER_CONFIG = 'tls-root-certs = "native"\n'


def read_lock(text):
    """[{name, subdir, file_name, sha256}] from an explicit lock, in its order."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "@EXPLICIT":
            continue
        url, _, digest = line.partition("#")
        digest = digest.removeprefix("sha256:")
        parts = urlsplit(url).path.rsplit("/", 2)
        if len(digest) != 64 or len(parts) != 3 or not parts[2].endswith((".conda", ".tar.bz2")):
            raise ValueError(f"not a package URL with #sha256:<64 hex>: {line!r}")
        subdir, file_name = parts[1], parts[2]
        stem = file_name.removesuffix(".conda").removesuffix(".tar.bz2")
        entries.append({"name": stem.rsplit("-", 2)[0], "subdir": subdir,
                        "file_name": file_name, "sha256": digest.lower()})
    if not entries:
        raise ValueError("it lists no packages")
    return entries


def installed_in(prefix):
    """{name: (file_name, sha256)} from the prefix's conda-meta records."""
    found = {}
    for path in glob.glob(os.path.join(prefix, "conda-meta", "*.json")):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if "name" in record:
            found[record["name"]] = (record.get("fn"), record.get("sha256"))
    return found


def plan(entries, installed):
    """(file names to install, names to remove)."""
    install = [e["file_name"] for e in entries
               if installed.get(e["name"]) != (e["file_name"], e["sha256"])]
    remove = sorted(set(installed) - {e["name"] for e in entries})
    return install, remove


def import_rattler(venv):
    """py-rattler from its venv: an abi3 wheel, so any Python 3.10+ loads it."""
    sys.path[:0] = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))
    import rattler  # pylint: disable=import-outside-toplevel
    return rattler


async def install(rattler, p, entries):
    """Look every lock entry up in the channel, then let rattler make the prefix match."""
    client = rattler.Client.from_config(rattler.Config.from_toml(RATTLER_CONFIG))
    gateway = rattler.Gateway(cache_dir=os.path.join(p["cache_dir"], "repodata"), client=client)
    found = await gateway.query([p["channel"]], sorted({e["subdir"] for e in entries}),
                                sorted({e["name"] for e in entries}), recursive=False)
    by_file = {(r.subdir, r.file_name): r for per_channel in found for r in per_channel}
    records, missing, mismatched = [], [], []
    for e in entries:
        record = by_file.get((e["subdir"], e["file_name"]))
        if record is None:
            missing.append(f"{e['subdir']}/{e['file_name']}")
        elif (record.sha256.hex() if record.sha256 else None) != e["sha256"]:
            mismatched.append(f"{e['subdir']}/{e['file_name']}")
        else:
            records.append(record)
    if missing or mismatched:
        return missing, mismatched
    await rattler.install(records, target_prefix=p["path"],
                          cache_dir=os.path.join(p["cache_dir"], "pkgs"), client=client,
                          show_progress=False, execute_link_scripts=False)
    return [], []


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "lock": {"type": "str", "required": True},
            "channel": {"type": "str", "default": "conda-forge"},
            "rattler_venv": {"type": "path", "required": True},
            "cache_dir": {"type": "path", "required": True},
            "prebuilt": {"type": "path", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        entries = read_lock(p["lock"])
    except ValueError as e:
        module.fail_json(msg=f"bad lock for {p['path']}: {e}")

    install_files, remove = plan(entries, installed_in(p["path"]))
    changed = bool(install_files or remove)
    result = {"installed": install_files, "removed": remove, "unpacked": ""}
    if module.check_mode or not changed:
        module.exit_json(changed=changed, **result)

    archive = prebuilt.find(p["prebuilt"], p["path"], p["lock"]) if p["prebuilt"] else None
    if archive and prebuilt.unpack(
            module, archive, p["path"],
            lambda unpacked: plan(entries, installed_in(unpacked)) == ([], [])):
        module.exit_json(changed=True, **{**result, "unpacked": archive})

    try:
        rattler = import_rattler(p["rattler_venv"])
    except ImportError as e:
        module.fail_json(msg=f"py-rattler is not importable from {p['rattler_venv']}: {e}")
    try:
        missing, mismatched = asyncio.run(install(rattler, p, entries))
    except Exception as e:  # rattler raises its own exception types
        module.fail_json(msg=f"installing {p['path']} from {p['channel']} failed: {e}", **result)
    if missing or mismatched:
        module.fail_json(
            msg=f"channel {p['channel']} does not serve the lock of {p['path']} as locked: "
                + "; ".join(filter(None, [
                    missing and f"missing: {', '.join(missing)}",
                    mismatched and f"sha256 differs from the lock: {', '.join(mismatched)}"])),
            **result)
    # The environment is shared and read-only to its users, who could not
    # write byte code themselves: compile it once here, as pip and conda do.
    python = os.path.join(p["path"], "bin", "python")
    if os.path.exists(python):
        rc, out, err = module.run_command(
            [python, "-m", "compileall", "-q", "-j", "0",
             *glob.glob(os.path.join(p["path"], "lib", "python3*", "site-packages"))])
        if rc:  # a file that is not Python 3 (a template, say) stays uncompiled
            module.warn(f"some files in {p['path']} did not compile: {(out + err)[-500:]}")
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
