#!/usr/bin/env python3
"""Build a Debian 12 Vagrant box for libvirt locally, and add it to Vagrant.

For places where Vagrant Cloud is out of reach (CI here, an offline
workshop): the box file can be copied to a USB stick and added on another
machine with `vagrant box add --name hdfhub/debian12 <file>`.

The box is a plain bookworm system (debootstrap minbase, the cloud kernel,
grub on an MBR disk) with the Vagrant conventions: a `vagrant` user with
passwordless sudo and Vagrant's well-known insecure key (Vagrant replaces it
on first `vagrant up`), eth0 on DHCP, SSH host keys generated at first boot.
A box file that exists is reused unless --force.

Needs root, debootstrap, qemu-utils, fdisk and the vagrant package (for
Vagrant's public key).
"""
import argparse
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from build_image import bootstrap, run

NAME = "hdfhub/debian12"
CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "hdfhub"
LABEL = "hdfhub-root"
DISK_GB = 8
PACKAGES = ",".join([
    "linux-image-cloud-amd64", "grub-pc-bin", "grub2-common", "initramfs-tools",
    "systemd-sysv", "udev", "dbus", "ifupdown", "isc-dhcp-client",
    "openssh-server", "sudo", "python3",
    # What Vagrant and the hdfhub bootstrap use first: rsync for the synced
    # folder, python3-venv and ca-certificates to install Ansible.
    "rsync", "python3-venv", "ca-certificates",
])
VAGRANT_KEY = pathlib.Path("/usr/share/rubygems-integration/all/gems").glob("vagrant-*/keys/vagrant.pub")

FILES = {
    "etc/hostname": "hdfhub\n",
    "etc/hosts": "127.0.0.1 localhost\n127.0.1.1 hdfhub\n",
    "etc/fstab": f"LABEL={LABEL} / ext4 errors=remount-ro 0 1\n",
    "etc/network/interfaces": ("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
                               "allow-hotplug eth0\niface eth0 inet dhcp\n"),
    "etc/sudoers.d/vagrant": "vagrant ALL=(ALL) NOPASSWD: ALL\n",
    # The image ships without host keys, so every VM gets its own.
    "etc/systemd/system/ssh-host-keys.service": (
        "[Unit]\nDescription=Generate SSH host keys on first boot\n"
        "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\nBefore=ssh.service\n\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n"
        "[Install]\nWantedBy=multi-user.target\n"),
    # The root file system is found by label: the loop device it was built on
    # does not exist in the VM.
    "boot/grub/grub.cfg": (
        f"set timeout=1\nsearch --no-floppy --label {LABEL} --set=root\n"
        "menuentry Debian {\n"
        f"  linux /vmlinuz root=LABEL={LABEL} ro net.ifnames=0 console=ttyS0,115200n8 console=tty0\n"
        "  initrd /initrd.img\n}\n"),
}


@contextlib.contextmanager
def loop_disk(image):
    """Attach `image` as a loop device; yield (disk, first partition)."""
    dev = run(["losetup", "--find", "--show", image], capture_output=True, text=True).stdout.strip()
    try:
        # This kernel does not scan partitions of a loop device by itself.
        run(["partx", "--add", dev])
        part = f"{dev}p1"
        if not os.path.exists(part):  # no udev: make the node from sysfs
            major, minor = pathlib.Path(f"/sys/class/block/{os.path.basename(part)}/dev").read_text().split(":")
            os.mknod(part, 0o600 | 0o060000, os.makedev(int(major), int(minor)))
        yield dev, part
    finally:
        subprocess.run(["partx", "--delete", dev])
        subprocess.run(["losetup", "--detach", dev])


@contextlib.contextmanager
def mounted(source, target, *opts):
    run(["mount", *opts, source, target])
    try:
        yield target
    finally:
        subprocess.run(["umount", "--lazy", target])


def configure(root):
    for rel, text in FILES.items():
        path = pathlib.Path(root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.chmod(pathlib.Path(root, "etc/sudoers.d/vagrant"), 0o440)
    os.symlink("/etc/systemd/system/ssh-host-keys.service",
               pathlib.Path(root, "etc/systemd/system/multi-user.target.wants/ssh-host-keys.service"))
    for key in pathlib.Path(root, "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    pathlib.Path(root, "var/lib/dbus/machine-id").unlink(missing_ok=True)
    run(["chroot", root, "useradd", "--create-home", "--shell", "/bin/bash", "vagrant"])
    run(["chroot", root, "sh", "-c", "echo vagrant:vagrant | chpasswd"])
    ssh = pathlib.Path(root, "home/vagrant/.ssh")
    ssh.mkdir(mode=0o700)
    shutil.copy(next(VAGRANT_KEY), ssh / "authorized_keys")
    os.chmod(ssh / "authorized_keys", 0o600)
    run(["chroot", root, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh"])


def build(box):
    with tempfile.TemporaryDirectory(prefix="hdfhub-box-") as tmp:
        raw = os.path.join(tmp, "disk.raw")
        with open(raw, "wb") as f:
            f.truncate(DISK_GB * 2**30)
        run(["sfdisk", "--quiet", raw], input=b"label: dos\n,,L,*\n")
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        with loop_disk(raw) as (disk, part):
            run(["mkfs.ext4", "-q", "-L", LABEL, part])
            with mounted(part, mnt):
                bootstrap("bookworm", mnt, PACKAGES)
                configure(mnt)
                with contextlib.ExitStack() as binds:
                    for fs in ("dev", "proc", "sys"):
                        binds.enter_context(mounted(f"/{fs}", os.path.join(mnt, fs), "--bind"))
                    run(["chroot", mnt, "grub-install", "--target=i386-pc",
                         "--modules=part_msdos ext2 search_label", disk])
                # grub-install leaves its own config alone; ours finds the
                # root by label.
                pathlib.Path(mnt, "boot/grub/grub.cfg").write_text(FILES["boot/grub/grub.cfg"])
        out = os.path.join(tmp, "box")
        os.mkdir(out)
        run(["qemu-img", "convert", "-c", "-O", "qcow2", raw, os.path.join(out, "box.img")])
        pathlib.Path(out, "metadata.json").write_text(
            json.dumps({"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GB}))
        box.parent.mkdir(parents=True, exist_ok=True)
        part_file = box.with_suffix(".partial")
        run(["tar", "-C", out, "-cf", str(part_file), "metadata.json", "box.img"])
        part_file.rename(box)


def box_added(name):
    out = subprocess.run(["vagrant", "box", "list", "--machine-readable"],
                         capture_output=True, text=True, check=True).stdout
    return any(line.split(",")[3] == name for line in out.splitlines()
               if line.count(",") >= 3 and line.split(",")[2] == "box-name")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=pathlib.Path, default=CACHE / "hdfhub-debian12-libvirt.box",
                   help="the box file (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="rebuild even if the box file exists")
    p.add_argument("--no-add", action="store_true", help="only build; don't `vagrant box add`")
    a = p.parse_args()
    figures = {}
    if a.force or not a.output.exists():
        start = time.monotonic()
        build(a.output)
        figures["box_build_s"] = round(time.monotonic() - start, 1)
    figures["box_mb"] = round(a.output.stat().st_size / 2**20, 1)
    if not a.no_add and (a.force or not box_added(NAME)):
        run(["vagrant", "box", "add", "--force", "--name", NAME, str(a.output)])
    print(json.dumps({"box": str(a.output), "name": NAME, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
