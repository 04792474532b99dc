"""The opt-in VM tier (`python3 tools/test.py vagrant`): the project's own
Vagrantfile, brought up for real with libvirt and QEMU on a box built here.

One VM for the whole session: boot, first provision, then the tests in file
order, then `vagrant destroy -f`. Requests go from this machine through the
Vagrantfile's forwarded port and private address, as a laptop's browser's
would; commands inside the VM go over `vagrant ssh-config` (testinfra).
"""
import glob
import json
import os
import pathlib
import subprocess
import sys

import pytest
import testinfra

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import vagrant_host  # noqa: E402

PORT = 8643  # not 8443: the molecule scenarios publish that one
IP = "192.168.56.10"
FIGURES = {}


@pytest.fixture(scope="session")
def vm(tmp_path_factory):
    with vagrant_host.libvirt_host() as pool:
        box = subprocess.run([sys.executable, ROOT / "tools/build_box.py"], check=True,
                             capture_output=True, text=True).stdout.splitlines()[-1]
        FIGURES.update({k: v for k, v in json.loads(box).items() if k.startswith("box_")})
        vagrant = vagrant_host.Vagrant({
            "HDFHUB_BOX": "hdfhub/debian12",
            "HDFHUB_LIBVIRT_DRIVER": "qemu",  # no usable KVM here
            "HDFHUB_LIBVIRT_POOL": pool,
            "HDFHUB_PORT": str(PORT),
            "HDFHUB_IP": IP,
            # This network inspects TLS; the VM must trust what this host trusts.
            "HDFHUB_EXTRA_CA": ":".join(sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))),
        })
        before = vagrant_host.libvirt_state(pool)
        try:
            vagrant("up", "--no-provision", timing="boot_s")
            vagrant.first_recap = vagrant.provision("provision_s")
            vagrant.host = testinfra.get_host(
                "ssh://default", sudo=True,
                ssh_config=str(vagrant.ssh_config(tmp_path_factory.mktemp("ssh") / "config")))
            yield vagrant
        finally:
            vagrant("destroy", "--force", timing="destroy_s")
            FIGURES.update(vagrant.timings)
            left = vagrant_host.libvirt_state(pool) - before
            assert not left, f"vagrant destroy left behind: {sorted(left)}"


@pytest.fixture(scope="session")
def ca_file(vm, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(vm.host.file("/etc/hdfhub/tls/ca.crt").content_string)
    return str(path)


def pytest_sessionfinish(session):
    """Print what the session measured (benchmarks/vagrant.py collects it)."""
    if FIGURES:
        line = json.dumps({"benchmark": "vagrant", **FIGURES})
        print("\n" + line, flush=True)
        if os.environ.get("HDFHUB_VAGRANT_FIGURES"):
            pathlib.Path(os.environ["HDFHUB_VAGRANT_FIGURES"]).write_text(line)
