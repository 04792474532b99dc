"""Run the project's Vagrantfile on this Debian machine with libvirt and QEMU.

Used by the opt-in `vagrant` test tier (tests/vagrant/). This machine has no
systemd, no VirtualBox, no usable nested KVM and no Vagrant Cloud, so
`libvirt_host()` prepares what a laptop would have: the packages, the libvirt
daemons (started by hand, stopped by PID afterwards), a storage pool, and
/dev/kvm opened to the kvm group (libvirt re-probes QEMU on every call
otherwise); tools/build_box.py provides the box. Everything it changed is put
back on exit.
"""
import contextlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["vagrant", "vagrant-libvirt", "libvirt-daemon-system", "libvirt-clients",
            "libvirt-daemon-driver-qemu", "qemu-system-x86", "qemu-utils", "dnsmasq-base",
            "ebtables", "iptables", "fdisk", "debootstrap", "rsync"]
POOL = "hdfhub"
POOL_DIR = pathlib.Path("/var/lib/libvirt/images/hdfhub")
DAEMONS = {"virtlogd": "/run/virtlogd.pid", "libvirtd": "/run/libvirtd.pid"}


def run(*cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def quiet(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def install_packages():
    missing = [p for p in PACKAGES
               if quiet("dpkg-query", "-W", "-f=${Status}", p).stdout != "install ok installed"]
    if missing:
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def running(pidfile):
    try:
        pid = int(pathlib.Path(pidfile).read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def daemons():
    """Start virtlogd and libvirtd unless they run; stop the ones started here."""
    started = []
    try:
        for name, pidfile in DAEMONS.items():
            if not running(pidfile):
                run(name, "-d")  # not -l: that needs TLS certificates
                time.sleep(1)
                started.append(running(pidfile))
        for _ in range(30):
            if quiet("virsh", "-c", "qemu:///system", "version").returncode == 0:
                break
            time.sleep(1)
        yield
    finally:
        for pid in reversed(started):
            if pid:
                os.kill(pid, signal.SIGTERM)


@contextlib.contextmanager
def kvm_device():
    """Give /dev/kvm to the kvm group (as udev would), and put it back."""
    dev = pathlib.Path("/dev/kvm")
    if not dev.exists():
        yield
        return
    st = dev.stat()
    try:
        shutil.chown(dev, group="kvm")
        dev.chmod(0o660)
        yield
    finally:
        os.chown(dev, st.st_uid, st.st_gid)
        dev.chmod(st.st_mode & 0o7777)


@contextlib.contextmanager
def storage_pool():
    virsh = ("virsh", "-c", "qemu:///system")
    if quiet(*virsh, "pool-info", POOL).returncode == 0:
        yield POOL
        return
    POOL_DIR.mkdir(parents=True, exist_ok=True)
    try:
        run(*virsh, "pool-define-as", POOL, "dir", "--target", POOL_DIR, stdout=subprocess.DEVNULL)
        run(*virsh, "pool-start", POOL, stdout=subprocess.DEVNULL)
        yield POOL
    finally:
        quiet(*virsh, "pool-destroy", POOL)
        quiet(*virsh, "pool-undefine", POOL)
        shutil.rmtree(POOL_DIR, ignore_errors=True)


def libvirt_state(pool):
    """What libvirt holds: domains, networks, and the pool's volumes, except
    uploaded boxes (Vagrant keeps those as a cache, like `vagrant box list`)."""
    def names(*args):
        out = quiet("virsh", "-c", "qemu:///system", *args).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]
    return ({f"domain {n}" for n in names("list", "--all", "--name")}
            | {f"network {n}" for n in names("net-list", "--all", "--name")}
            | {f"volume {n.split()[0]}" for n in names("vol-list", pool)[2:]
               if "vagrant_box_image" not in n})


@contextlib.contextmanager
def libvirt_host():
    install_packages()
    with contextlib.ExitStack() as stack:
        stack.enter_context(kvm_device())
        stack.enter_context(daemons())
        yield stack.enter_context(storage_pool())


class Vagrant:
    """`vagrant` in the repository, with the settings given as the Vagrantfile's variables."""

    def __init__(self, settings):
        self.env = {**os.environ, **settings, "VAGRANT_DEFAULT_PROVIDER": "libvirt"}
        self.timings = {}

    def __call__(self, *args, timing=None):
        """Run `vagrant ARGS`, streaming its output; return the output."""
        start = time.monotonic()
        print("+ vagrant", " ".join(args), flush=True)
        out = []
        with subprocess.Popen(["vagrant", *args], cwd=ROOT, env=self.env, text=True,
                              stdout=subprocess.PIPE) as proc:
            for line in proc.stdout:
                sys.stdout.write(line)
                out.append(line)
        if timing:
            self.timings[timing] = round(time.monotonic() - start, 1)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, ["vagrant", *args])
        return "".join(out)

    def provision(self, timing):
        """Provision; return the play recap's totals."""
        out = self("provision", timing=timing)
        recap = re.findall(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                           out, re.MULTILINE)
        assert recap, "no play recap in the provisioner's output"
        ok, changed, unreachable, failed = map(int, recap[-1])
        return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}

    def ssh_config(self, path):
        path.write_text(self("ssh-config"))
        return path
