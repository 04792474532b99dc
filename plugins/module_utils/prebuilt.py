"""Environments built ahead of time, carried by an offline bundle: the bundle
module packs each one built on the builder, at the path it will have on the
site; the venv and conda_env modules unpack it there instead of installing,
when the bundle's copy was built from the same lock and holds what the lock
says."""
import hashlib
import json
import os
import shutil


def lock_sha256(lock):
    return hashlib.sha256(lock.encode("utf-8")).hexdigest()


def archive_name(path):
    """The archive's path inside the bundle: envs/opt--hdfhub--envs--hdf5.tar."""
    return "envs/" + path.strip("/").replace("/", "--") + ".tar"


def pack(module, path, lock, root):
    """Archive the environment at `path`, built from `lock`, into the bundle
    directory `root`; returns the manifest's entry for it. Byte code
    included, so the site compiles nothing."""
    name = archive_name(path)
    os.makedirs(os.path.join(root, "envs"), exist_ok=True)
    module.run_command(["tar", "--create", "--file", os.path.join(root, name), "--directory", path,
                        "--numeric-owner", "--sort=name", "."], check_rc=True)
    return {"path": path, "lock_sha256": lock_sha256(lock), "archive": name}


def find(bundle_dir, path, lock):
    """The unpacked bundle's archive of the environment at `path` built from
    `lock`, or None (another lock, another path, or a bundle without it)."""
    try:
        with open(os.path.join(bundle_dir, "manifest.json"), encoding="utf-8") as f:
            environments = json.load(f).get("environments", [])
    except (OSError, ValueError):
        return None
    digest = lock_sha256(lock)
    for env in environments:
        if env.get("path") == path and env.get("lock_sha256") == digest:
            archive = os.path.join(bundle_dir, env["archive"])
            return archive if os.path.isfile(archive) else None
    return None


def unpack(module, archive, path, in_step):
    """Unpack `archive` beside `path`, and put it in place if `in_step(the
    unpacked directory)`; True if it was. Otherwise what was at `path` stays,
    and the caller installs as without a bundle."""
    base = path.rstrip("/")
    work, old = base + ".unpacking", base + ".replaced"
    for leftover in (work, old):
        shutil.rmtree(leftover, ignore_errors=True)
    os.makedirs(work, mode=0o755)
    rc, _, err = module.run_command(["tar", "--extract", "--file", archive, "--directory", work,
                                     "--numeric-owner"])
    if rc or not in_step(work):
        if rc:
            module.warn(f"unpacking {archive} failed, installing instead: {err[-500:]}")
        shutil.rmtree(work, ignore_errors=True)
        return False
    if os.path.lexists(path):
        os.rename(path, old)
    os.rename(work, path)
    shutil.rmtree(old, ignore_errors=True)
    return True
