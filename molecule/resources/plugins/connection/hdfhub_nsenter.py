"""Run tasks in a local podman test container by entering its namespaces.

A `podman exec` is a runc start: about 150 ms on the CI host, for every
task, and more when two scenarios share its two cores. Entering the running
container's namespaces with nsenter costs a few milliseconds, and works even
when a container lost its libpod cgroup, where `podman exec` fails
(docs/architecture.md). The process joins the container's cgroups first, as
`podman exec` would put it there. Modules go to the container's Python on
standard input, as SSH pipelining does, so nothing is copied per task.
Needs root on the controller, as the test containers do.

The verify tests enter the same way (`enter`, for testinfra's backend in
molecule/resources/tests/hubfixtures.py).
"""
import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: hdfhub_nsenter
short_description: Enter a local podman container's namespaces (tests only)
description:
  - Runs commands in a running local podman container with nsenter, and
    copies files through its standard input and output.
options:
  remote_addr:
    description: The container's name.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
"""

# What `podman exec` gives a command in the test image, and no more: the
# controller's own environment stays out.
ENVIRONMENT = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME=/root", "TERM=xterm", "container=podman")
_FOUND = {}  # name: (pid, cgroup, the pid's start time), while that process lives


def _started(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _container(name):
    """(pid, cgroup path) of the running container `name`; a restarted one is
    looked up again."""
    found = _FOUND.get(name)
    if found and _started(found[0]) == found[2]:
        return found[:2]
    proc = subprocess.run(
        ["podman", "container", "inspect", "--format",
         "{{.State.Running}} {{.State.Pid}} {{.State.CgroupPath}}", name],
        capture_output=True, text=True, check=False)
    fields = proc.stdout.split()
    if proc.returncode or len(fields) < 2 or fields[0] != "true":
        raise ConnectionError(
            f"container {name} is not running: {proc.stderr.strip() or proc.stdout.strip()}")
    pid, cgroup = fields[1], fields[2] if len(fields) > 2 else ""
    _FOUND[name] = (pid, cgroup, _started(pid))
    return pid, cgroup


def _join_cgroups(cgroup):
    """Move this process into the container's cgroup in every hierarchy that
    has it (a lost one is skipped, as is one that takes no process there)."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [f[1] for f in map(str.split, mounts) if f[2] in ("cgroup", "cgroup2")]
    for point in points:
        try:
            with open(f"{point}{cgroup}/cgroup.procs", "w", encoding="ascii") as procs:
                procs.write("0")
        except OSError:
            pass


def enter(name, argv, **popen):
    """Run argv in container `name` (subprocess.run's keywords), as root with
    `podman exec`'s environment."""
    pid, cgroup = _container(name)
    return subprocess.run(
        ["nsenter", "--target", pid, "--all", "--", "/usr/bin/env", "-i", *ENVIRONMENT, *argv],
        preexec_fn=(lambda: _join_cgroups(cgroup)) if cgroup else None, check=False, **popen)


class Connection(ConnectionBase):
    transport = "hdfhub_nsenter"
    has_pipelining = True
    always_pipeline_modules = True
    has_tty = False

    def _connect(self):
        if not self._connected:
            try:
                _container(self.get_option("remote_addr"))
            except ConnectionError as err:
                raise AnsibleConnectionFailure(str(err)) from None
            self._connected = True
        return self

    def _enter(self, argv, **popen):
        name = self.get_option("remote_addr")
        self._display.vvv(f"ENTER {shlex.join(argv)}", host=name)
        proc = enter(name, argv, stderr=subprocess.PIPE, **popen)
        return proc.returncode, proc.stdout or b"", proc.stderr

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        return self._enter(["/bin/sh", "-c", to_text(cmd, errors="surrogate_or_strict")],
                           input=in_data, stdout=subprocess.PIPE)

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._connect()
        with open(in_path, "rb") as src:
            rc, _, err = self._enter(["/bin/sh", "-c", f"cat > {shlex.quote(out_path)}"],
                                     stdin=src)
        if rc:
            raise AnsibleError(f"failed to put {in_path} to {out_path}: {to_text(err)}")

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        self._connect()
        with open(out_path, "wb") as dst:
            rc, _, err = self._enter(["cat", in_path], stdout=dst)
        if rc:
            os.unlink(out_path)
            raise AnsibleError(f"failed to fetch {in_path} to {out_path}: {to_text(err)}")

    def close(self):
        self._connected = False
