"""A laptop's `vagrant up`, checked from outside the VM. Runs in file order."""
import csv
import io
import re
import statistics
import time

import pytest
import requests
from conftest import FIGURES, IP, PORT

from hubclient import HubUser, KernelDied, wait_for

SPAWNS = 3


def test_first_provision_succeeds(vm):
    assert vm.first_recap["failed"] == 0 and vm.first_recap["unreachable"] == 0, vm.first_recap


@pytest.mark.parametrize("base", [f"https://localhost:{PORT}", f"https://{IP}"])
def test_hub_answers_over_https(vm, ca_file, base):
    # The certificate names both: localhost (forwarded port) and the private address.
    session = requests.Session()
    session.trust_env = False
    r = session.get(f"{base}/hub/login", verify=ca_file, timeout=30)
    assert r.status_code == 200
    assert "JupyterHub" in r.text


@pytest.fixture(scope="module")
def admin(vm, ca_file):
    """Logged in with the password the provisioning generated, from where
    the deploy docs say to read it (the controller is the VM's vagrant user)."""
    listed = vm.host.file("/home/vagrant/.hdfhub/localhost-handout/admin-passwords.csv")
    rows = {row["name"]: row["password"]
            for row in csv.DictReader(io.StringIO(listed.content_string))}
    return HubUser("admin", ca_file, f"https://localhost:{PORT}", password=rows["admin"]).login()


def test_admin_spawns_and_runs_h5py(admin):
    spawns = []
    for i in range(SPAWNS):
        start = time.monotonic()
        admin.start(timeout=600)
        spawns.append(time.monotonic() - start)
        if i < SPAWNS - 1:
            admin.stop(timeout=120)
    FIGURES["spawn_s"] = [round(s, 1) for s in spawns]
    FIGURES["spawn_p50_s"] = round(statistics.median(spawns), 1)
    admin.check_hdf5(timeout=300)


def test_memory_limit_kills_the_kernel_and_the_unit_says_so(vm, admin):
    # In a VM the cgroup limits are real: allocate half as much again as the limit.
    unit = "jupyter-admin"
    limit = int(vm.host.check_output(f"systemctl show -P MemoryMax {unit}"))
    since = vm.host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    with pytest.raises(KernelDied):
        admin.run_code(f"import numpy as np\nx = np.ones({limit * 3 // 2}, dtype=np.uint8)\n"
                       "print(x.sum())", timeout=600)
    cgroup = vm.host.check_output(f"systemctl show -P ControlGroup {unit}")
    events = vm.host.file(f"/sys/fs/cgroup{cgroup}/memory.events").content_string
    assert int(re.search(r"^oom_kill (\d+)$", events, re.MULTILINE).group(1)) >= 1
    log = vm.host.check_output(f"journalctl -u {unit} --since '{since}' --no-pager")
    assert "killed by the OOM killer" in log
    # Only the kernel died: the server still serves.
    assert vm.host.check_output(f"systemctl show -P ActiveState {unit}") == "active"
    assert wait_for(lambda: admin.api("GET", "/user/admin/api/status").status_code == 200,
                    60, what="the server after the OOM kill")


def test_reprovision_changes_nothing(vm, admin):
    admin.stop(timeout=120)
    recap = vm.provision("reprovision_s")
    assert recap["failed"] == 0 and recap["changed"] == 0, recap
