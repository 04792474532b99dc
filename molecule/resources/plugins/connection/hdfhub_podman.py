"""containers.podman.podman with pipelining, for the test containers.

The collection's plugin copies every module into the container and runs it
in three more `podman exec` calls, each a runc start; here a module goes to
the container's Python on the standard input of one `podman exec -i`, as SSH
pipelining does. That halves the cost of a task, which is most of a converge.
Async tasks would need the copy (hdfhub has none).
"""
import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection import podman

DOCUMENTATION = podman.DOCUMENTATION.replace(
    "name: podman", "name: hdfhub_podman", 1)


class Connection(podman.Connection):
    transport = "hdfhub_podman"
    has_pipelining = True
    always_pipeline_modules = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        # The grandparent's bookkeeping; the parent would drop in_data.
        super(podman.Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec", "--interactive"] if in_data else ["exec"]
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
