#!/usr/bin/env python3
"""Build a minimal Debian rootfs with systemd and import it as a podman image.

The molecule scenarios boot this image with systemd as PID 1. It is built
locally (debootstrap, then `podman import`) because no container registry is
reachable from CI. An image that already exists is kept unless --force, or
unless it was built from another recipe (its label `hdfhub.recipe`, a hash of
this file).
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import support

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
# Enough for Ansible to connect and systemd to boot, plus what a cloud
# provider's Debian image has (sshd, cron, unattended-upgrades): the appliance
# must be safe on such a host. It installs everything else itself.
PACKAGES = ("systemd,systemd-sysv,dbus,python3,procps,"
            "openssh-server,cron,unattended-upgrades")
RECIPE = hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:16]


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def image_recipe(tag):
    """The recipe label of image `tag`, "" if it has none, None if no such image."""
    r = subprocess.run(["podman", "image", "inspect", "--format",
                        '{{index .Labels "hdfhub.recipe"}}', tag],
                       capture_output=True, text=True)
    return r.stdout.strip().replace("<no value>", "") if r.returncode == 0 else None


def bootstrap(release, root, packages):
    """Debootstrap a minbase `release` into `root`, with updates and security
    in its apt sources and an empty machine-id (filled in at first boot, as on
    a real host)."""
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    run(["debootstrap", "--variant=minbase", f"--include={packages}",
         f"--keyring={keyring}", release, root, MIRROR],
        stdout=subprocess.DEVNULL)
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
        f.write(f"deb {MIRROR} {release} main\n"
                f"deb {MIRROR} {release}-updates main\n"
                f"deb {SECURITY} {release}-security main\n")
    open(os.path.join(root, "etc/machine-id"), "w").close()
    shutil.rmtree(os.path.join(root, "var/cache/apt/archives"), ignore_errors=True)


def build(release, tag):
    with tempfile.TemporaryDirectory(prefix="hdfhub-rootfs-") as tmp:
        root = os.path.join(tmp, "rootfs")
        bootstrap(release, root, PACKAGES)
        # libkmod does not work inside the container; the unit would fail and
        # leave the system 'degraded'.
        os.symlink("/dev/null", os.path.join(
            root, "etc/systemd/system/systemd-modules-load.service"))
        tar = os.path.join(tmp, "rootfs.tar")
        run(["tar", "-C", root, "-cf", tar, "."])
        run(["podman", "import", "--change", "CMD=/sbin/init",
             "--change", f"LABEL hdfhub.recipe={RECIPE}",
             "--change", "STOPSIGNAL=SIGRTMIN+3", tar, tag],
            stdout=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    releases = support.debian_releases()  # the tested ones in the support matrix
    p.add_argument("--release", default=next(iter(releases)), choices=sorted(releases))
    p.add_argument("--tag", help="image tag (default localhost/hdfhub-debian<N>)")
    p.add_argument("--force", action="store_true", help="rebuild if present")
    a = p.parse_args()
    tag = a.tag or f"localhost/hdfhub-debian{releases[a.release]}:latest"
    recipe = image_recipe(tag)
    if recipe == RECIPE and not a.force:
        print(f"{tag} exists; use --force to rebuild")
        return 0
    if recipe is not None:
        print(f"{tag} was built from another recipe; rebuilding")
    build(a.release, tag)
    print(f"built {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
