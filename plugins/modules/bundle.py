#!/usr/bin/python
"""Ansible module: build an offline bundle, or verify one against its manifest."""
import base64
import datetime
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hdfgroup.hdfhub.plugins.module_utils import prebuilt
from ansible_collections.hdfgroup.hdfhub.plugins.module_utils.pip_lock import (
    build_requirements, from_source, normalize, read_lock, requirement_lines)

DOCUMENTATION = r"""
module: bundle
short_description: Build an offline bundle, verify one, or check it holds what the locks pin
description:
  - >-
    C(state=built), on a host of the target's Debian release with network:
    downloads everything a converge installs into a directory and writes it
    as one uncompressed tar archive with a C(manifest.json) (path, kind, name,
    version, sha256 and size of every file).
  - >-
    Debian packages are the closure of Depends and Recommends (what apt
    installs online) from an empty package state, so the bundle also serves a
    host that lacks what this one has; C(debs/)
    is a flat apt repository (C(apt-ftparchive), from apt-utils).
  - >-
    Wheels come from C(pip download), binary only, for this host's Python,
    each checked against its lock's hashes, except that the packages a lock's
    C(# hdfhub-from-source:) line names (pure Python, no wheel on PyPI) come
    as their source archive, with the wheels of its C(# hdfhub-build:) pins
    to build them with at converge;
    npm tarballs from the C(resolved) URLs of a package-lock, each checked
    against its C(integrity); conda packages from the channel, each checked
    against the lock's sha256, then indexed with py-rattler; each git
    repository as a packed bare mirror, C(git/<name>.git), with all its
    branches and tags; each environment already built on this host
    (I(environments)) as C(envs/<path>.tar), byte code included, which the
    venv and conda_env modules unpack at the same path instead of
    installing.
  - >-
    C(state=verified), usually on the controller: the archive must have the
    I(sha256) the inventory pinned; then every file the manifest lists must
    be in it with its sha256, and nothing else, and every member must be a
    regular file (no link, directory or device); the failure names each
    missing, damaged, unlisted or irregular member. Reads only.
  - >-
    C(state=holds), on the controller: every pin of I(pip_locks) has its
    wheel or source archive in the bundle, and every package of I(npm_lock)
    and I(conda_locks) its file, by the manifest; otherwise the failure names
    what is missing and asks for the bundle to be built again. Reads only
    the manifest.
options:
  state:
    description: C(built) makes the archive; C(verified) checks it; C(holds) checks it against locks.
    type: str
    choices: [built, verified, holds]
    required: true
  archive:
    description: The bundle's tar archive (written by C(built), read by C(verified)).
    type: path
    required: true
  work_dir:
    description: C(built) downloads into C(bundle/) here, emptied first.
    type: path
  sha256:
    description: >-
      C(verified): the archive's sha256 as C(built) reported it; empty skips
      that check (preflight requires it).
    type: str
    default: ""
  apt_packages:
    description: Debian packages whose dependency closure goes in C(debs/).
    type: list
    elements: str
    default: []
  pip_locks:
    description: Lock texts (C(name==version) lines) whose wheels go in C(wheels/) (or must be there).
    type: list
    elements: str
    default: []
  pip:
    description: The pip executable that downloads wheels.
    type: path
  npm_lock:
    description: A package-lock.json (lockfileVersion 3) whose tarballs go in C(npm/) (or must be there).
    type: str
    default: ""
  conda_locks:
    description: Explicit conda locks whose packages go in C(conda/), a channel (or must be there).
    type: list
    elements: str
    default: []
  conda_channel:
    description: Channel the conda packages come from (a name or a URL).
    type: str
    default: conda-forge
  rattler_python:
    description: A Python that imports py-rattler, to index the conda channel.
    type: path
  git_repos:
    description:
      - >-
        Git repositories (C(name), C(url)) that go in C(git/<name>.git),
        for the featured repositories (C(hdfhub_featured_repos)).
    type: list
    elements: dict
    default: []
  environments:
    description:
      - >-
        Environments built on this host (C(path), and the C(lock) text they
        were built from) that go in C(envs/), listed in the manifest with the
        lock's sha256.
    type: list
    elements: dict
    default: []
"""

RETURN = r"""
manifest:
  description:
    - >-
      The manifest without its file list (release, architecture, python,
      created, git: the repositories' names), and archive_sha256, the
      sha256 of the whole archive to pin; from C(verified), also the sha256
      of manifest.json.
  type: dict
  returned: always
files:
  description: Number of files in the bundle.
  type: int
  returned: always
size:
  description: The archive's size in bytes.
  type: int
  returned: always
"""

KINDS = ("debs", "wheels", "npm", "conda", "git", "envs")
CHUNK = 1 << 20


def sha256_of(stream):
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


def name_version(kind, path):
    """(name, version) of a bundle file, from the naming rules of its kind."""
    base = os.path.basename(path)
    if kind == "debs" and base.endswith(".deb"):
        name, version, _ = base[:-4].split("_")
        return name, version.replace("%3a", ":")
    if kind == "wheels" and base.endswith(".tar.gz"):  # a source archive
        name, version = base.removesuffix(".tar.gz").rsplit("-", 1)
        return name, version
    if kind == "wheels":
        name, version = base.split("-")[:2]
        return name, version
    if kind == "npm":
        stem, version = base[:-4].rsplit("-", 1)
        return stem.replace("--", "/"), version
    if kind == "git":
        return path.split("/")[1].removesuffix(".git"), ""
    if kind == "envs":
        return "/" + base.removesuffix(".tar").replace("--", "/"), ""
    if kind == "conda" and base.endswith((".conda", ".tar.bz2")):
        name, version, _ = base.removesuffix(".conda").removesuffix(".tar.bz2").rsplit("-", 2)
        return name, version
    return base, ""  # an index: Packages, Release, repodata.json


def download(url, dest, check):
    """Fetch url to dest, if its bytes pass check."""
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    if not check(data):
        raise ValueError(f"{url}: checksum differs from the lock")
    with open(dest, "wb") as f:
        f.write(data)


def npm_integrity(integrity):
    algorithm, _, b64 = integrity.partition("-")
    expected = base64.b64decode(b64)
    return lambda data: hashlib.new(algorithm, data).digest() == expected


def build_debs(module, root, packages):
    """The packages' closure for this release, as a flat repository."""
    debs = os.path.join(root, "debs")
    os.makedirs(os.path.join(debs, "partial"), exist_ok=True)
    empty_status = os.path.join(root, ".empty-status")
    open(empty_status, "w").close()
    module.run_command(["apt-get", "update", "-qq"], check_rc=True)
    module.run_command(
        ["apt-get", "install", "-qq", "--download-only",
         "-o", f"Dir::State::status={empty_status}", "-o", f"Dir::Cache::archives={debs}",
         *packages], check_rc=True, environ_update={"DEBIAN_FRONTEND": "noninteractive"})
    shutil.rmtree(os.path.join(debs, "partial"))
    os.remove(os.path.join(debs, "lock"))
    _, out, _ = module.run_command(["apt-ftparchive", "packages", "."], cwd=debs, check_rc=True)
    with open(os.path.join(debs, "Packages"), "w", encoding="utf-8") as f:
        f.write(out)
    _, out, _ = module.run_command(["apt-ftparchive", "release", "."], cwd=debs, check_rc=True)
    with open(os.path.join(debs, "Release"), "w", encoding="utf-8") as f:
        f.write(out)


def build_wheels(module, root, locks, pip):
    """Every pin's file for this host's Python, and each lock's build pins;
    each file checked by pip against the lock's hashes."""
    wheels = os.path.join(root, "wheels")
    os.makedirs(wheels, exist_ok=True)
    listing = os.path.join(root, ".requirements.txt")
    # One lock at a time: two locks may pin different versions of a package
    # (the hub's and HSDS's aiohttp), which one pip call refuses.
    for lock in locks:
        with open(listing, "w", encoding="utf-8") as f:
            f.write("\n".join(sorted(set(requirement_lines(lock) + build_requirements(lock)))) + "\n")
        # The source archives as they are: the converge builds them (uv, with
        # the build pins), so the hashes it checks are the lock's.
        module.run_command([pip, "download", "--quiet", "--only-binary=:all:", "--no-deps",
                            *(f"--no-binary={name}" for name in sorted(from_source(lock))),
                            "--dest", wheels, "--requirement", listing], check_rc=True)


def build_npm(root, lock_text):
    npm = os.path.join(root, "npm")
    os.makedirs(npm, exist_ok=True)
    lock = json.loads(lock_text)
    for key, package in lock["packages"].items():
        if not key:
            continue
        name = key.rsplit("node_modules/", 1)[1]
        if "resolved" not in package:
            raise ValueError(f"the npm lock gives no 'resolved' URL for {name}")
        dest = os.path.join(npm, f"{name.replace('/', '--')}-{package['version']}.tgz")
        download(package["resolved"], dest, npm_integrity(package["integrity"]))


def channel_url(channel):
    return channel.rstrip("/") if "://" in channel else f"https://conda.anaconda.org/{channel}"


def build_conda(module, root, locks, channel, rattler_python):
    conda = os.path.join(root, "conda")
    for lock in locks:
        for line in (raw.strip() for raw in lock.splitlines()):
            if not line or line.startswith("#") or line == "@EXPLICIT":
                continue
            url, _, digest = line.partition("#")
            digest = digest.removeprefix("sha256:").lower()
            subdir, file_name = urlsplit(url).path.rsplit("/", 2)[1:]
            os.makedirs(os.path.join(conda, subdir), exist_ok=True)
            download(f"{channel_url(channel)}/{subdir}/{file_name}",
                     os.path.join(conda, subdir, file_name),
                     lambda data, d=digest: hashlib.sha256(data).hexdigest() == d)
    # Rattler wants noarch/ in every channel, even when nothing lives there.
    os.makedirs(os.path.join(conda, "noarch"), exist_ok=True)
    # os._exit skips the interpreter's finalization, where py-rattler's runtime
    # threads now and then crash it (SIGSEGV) after the index is written.
    module.run_command(
        [rattler_python, "-c",
         "import asyncio, os, sys; from rattler.index import index_fs;"
         " asyncio.run(index_fs(sys.argv[1], write_zst=False, write_shards=False)); os._exit(0)",
         conda],
        check_rc=True)


def build_git(module, root, repos):
    """Each repository as a packed bare mirror of its branches and tags, which
    git fetches from like a remote (a `git bundle` file would serve `git
    clone`, but not the file:// URL that Ansible's git module turns a path
    into)."""
    for repo in repos:
        mirror = os.path.join(root, "git", repo["name"] + ".git")
        # --template= : no sample hooks or other files that serve no fetch.
        module.run_command(["git", "init", "--quiet", "--bare", "--template=", mirror],
                           check_rc=True)
        # fetch writes each ref as a file (clone would pack them all into
        # packed-refs): the archive carries files only, and git wants refs/.
        module.run_command(["git", "-C", mirror, "fetch", "--quiet", repo["url"],
                            "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                           check_rc=True)
        os.remove(os.path.join(mirror, "FETCH_HEAD"))
        _, out, _ = module.run_command(["git", "ls-remote", "--symref", repo["url"], "HEAD"],
                                       check_rc=True)
        if out.startswith("ref: "):  # "ref: refs/heads/main<TAB>HEAD"
            module.run_command(["git", "-C", mirror, "symbolic-ref", "HEAD", out.split()[1]],
                               check_rc=True)
        module.run_command(["git", "-C", mirror, "repack", "-a", "-d", "--quiet"], check_rc=True)


def os_facts():
    release = arch = ""
    with open("/etc/os-release", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                release = line.split("=", 1)[1].strip().strip('"')
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()
    return release, arch


def build(module, p):
    # From scratch each time: a file no input names any more must not stay.
    root = os.path.join(p["work_dir"], "bundle")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    if p["apt_packages"]:
        build_debs(module, root, p["apt_packages"])
    if p["pip_locks"]:
        build_wheels(module, root, p["pip_locks"], p["pip"])
    if p["npm_lock"]:
        build_npm(root, p["npm_lock"])
    if p["conda_locks"]:
        build_conda(module, root, p["conda_locks"], p["conda_channel"], p["rattler_python"])
    if p["git_repos"]:
        build_git(module, root, p["git_repos"])
    environments = [prebuilt.pack(module, env["path"], env["lock"], root)
                    for env in p["environments"]]

    release, arch = os_facts()
    files = []
    for kind in KINDS:
        for path in sorted(glob.glob(os.path.join(root, kind, "**", "*"), recursive=True)):
            if os.path.isfile(path):
                rel = os.path.relpath(path, root)
                name, version = name_version(kind, rel)
                with open(path, "rb") as f:
                    files.append({"path": rel, "kind": kind, "name": name, "version": version,
                                  "sha256": sha256_of(f), "size": os.path.getsize(path)})
    manifest = {"format": 1, "release": release, "architecture": arch,
                "python": "%d.%d" % sys.version_info[:2],
                "git": sorted(repo["name"] for repo in p["git_repos"]),
                "environments": environments,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "files": files}
    with open(os.path.join(root, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    part = p["archive"] + ".part"
    # The manifest goes last: a host whose unpacking was cut short has no
    # manifest yet, so the next run unpacks again.
    with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            tar.add(os.path.join(root, entry["path"]), entry["path"])
        tar.add(os.path.join(root, "manifest.json"), "manifest.json")
    os.replace(part, p["archive"])
    return manifest


def verify(module, archive, pinned=""):
    """The manifest, after checking the archive against the sha256 the
    inventory pinned (a manifest inside the archive vouches only for
    itself), then every file against the manifest. Only regular files may
    be members: a link could point anywhere when unpacked."""
    problems = []
    try:
        with open(archive, "rb") as f:
            digest = sha256_of(f)
        if pinned and digest != pinned.lower():
            module.fail_json(msg=(
                f"hdfhub_offline_bundle_sha256: {archive} has sha256 {digest}, not the pinned "
                f"{pinned}: it is not the bundle that was built, or it was changed since. Use "
                "the archive playbooks/bundle.yml made, with the sha256 it printed."))
        with tarfile.open(archive, "r:") as tar:
            everything = tar.getmembers()
            problems += [f"not a regular file: {m.name}" for m in everything if not m.isfile()]
            members = {m.name: m for m in everything if m.isfile()}
            if "manifest.json" not in members:
                module.fail_json(msg=f"hdfhub_offline_bundle: {archive} has no manifest.json; "
                                     "build bundles with playbooks/bundle.yml")
            raw = tar.extractfile(members.pop("manifest.json")).read()
            manifest = {**json.loads(raw), "sha256": hashlib.sha256(raw).hexdigest(),
                        "archive_sha256": digest}
            for entry in manifest["files"]:
                member = members.pop(entry["path"], None)
                if member is None:
                    problems.append(f"missing: {entry['path']}")
                elif member.size != entry["size"] or \
                        sha256_of(tar.extractfile(member)) != entry["sha256"]:
                    problems.append(f"damaged (sha256 differs from the manifest): {entry['path']}")
            problems += [f"not in the manifest: {name}" for name in sorted(members)]
    except (tarfile.TarError, OSError, ValueError, KeyError) as e:
        module.fail_json(msg=f"hdfhub_offline_bundle: {archive} is not a readable bundle: {e}")
    if problems:
        module.fail_json(msg=f"hdfhub_offline_bundle: {archive} fails its checks; rebuild it "
                             "or copy it again. " + "; ".join(problems), problems=problems)
    return manifest


def read_manifest(module, archive):
    try:
        with tarfile.open(archive, "r:") as tar:
            return json.load(tar.extractfile("manifest.json"))
    except (tarfile.TarError, OSError, ValueError, KeyError) as e:
        module.fail_json(msg=f"hdfhub_offline_bundle: {archive} is not a readable bundle: {e}")


def holds(module, archive, pip_locks, npm_lock, conda_locks):
    """Fails naming what the locks pin and the bundle lacks. Pins are
    compared by name and version (the locks carry no environment markers;
    pip downloads every pin)."""
    files = read_manifest(module, archive)["files"]
    wheels = {(normalize(f["name"]), f["version"]) for f in files if f["kind"] == "wheels"}
    npm = {(f["name"], f["version"]) for f in files if f["kind"] == "npm"}
    conda = {f["path"] for f in files if f["kind"] == "conda"}
    missing = []
    for lock in pip_locks:
        missing += [f"{pin.name}=={pin.version}" for key, pin in sorted(read_lock(lock).items())
                    if (key, pin.version) not in wheels]
    for key, package in json.loads(npm_lock or '{"packages": {}}')["packages"].items():
        name = key.rsplit("node_modules/", 1)[-1]
        if key and (name, package["version"]) not in npm:
            missing.append(f"{name}@{package['version']}")
    for lock in conda_locks:
        for line in (raw.strip() for raw in lock.splitlines()):
            if line and not line.startswith(("#", "@")):
                subdir, file_name = urlsplit(line.partition("#")[0]).path.rsplit("/", 2)[1:]
                if f"conda/{subdir}/{file_name}" not in conda:
                    missing.append(f"{subdir}/{file_name}")
    missing = sorted(set(missing))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if missing[10:] else "")
        module.fail_json(
            msg=f"hdfhub_offline_bundle: {archive} no longer matches the locks: it lacks "
                f"{shown}. Rebuild the bundle with playbooks/bundle.yml from this checkout and "
                "inventory, then pin its new sha256.", missing=missing)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["built", "verified", "holds"], "required": True},
            "archive": {"type": "path", "required": True},
            "work_dir": {"type": "path"},
            "apt_packages": {"type": "list", "elements": "str", "default": []},
            "pip_locks": {"type": "list", "elements": "str", "default": []},
            "pip": {"type": "path"},
            "npm_lock": {"type": "str", "default": ""},
            "conda_locks": {"type": "list", "elements": "str", "default": []},
            "conda_channel": {"type": "str", "default": "conda-forge"},
            "rattler_python": {"type": "path"},
            "git_repos": {"type": "list", "elements": "dict", "default": []},
            "environments": {"type": "list", "elements": "dict", "default": []},
            "sha256": {"type": "str", "default": ""},
        },
        required_if=[("state", "built", ["work_dir", "pip"])],
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "holds":
        holds(module, p["archive"], p["pip_locks"], p["npm_lock"], p["conda_locks"])
        module.exit_json(changed=False, manifest={}, files=0, size=0)
    if p["state"] == "verified":
        manifest = verify(module, p["archive"], p["sha256"])
        changed = False
    elif module.check_mode:
        module.exit_json(changed=True, manifest={}, files=0, size=0)
    else:
        try:
            manifest = build(module, p)
            with open(p["archive"], "rb") as f:
                manifest["archive_sha256"] = sha256_of(f)
        except (ValueError, OSError, KeyError) as e:
            module.fail_json(msg=f"building the bundle failed: {e}")
        changed = True
    files = manifest.pop("files")
    module.exit_json(changed=changed, manifest=manifest, files=len(files),
                     size=os.path.getsize(p["archive"]))


if __name__ == "__main__":
    main()
