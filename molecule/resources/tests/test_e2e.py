"""A user's whole path: log in, spawn, run h5py in a kernel, survive a hub restart, stop.

Every request goes through nginx and TLS from outside the host. The tests run
in file order against one server; each takes `host` so that testinfra's
parametrisation keeps that order.
"""
import json

import pytest
from conftest import KernelDied, PAM, account, firstuse_only, unit_props, wait_for

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def alice_server(alice):
    alice.start()
    return alice


def test_server_is_a_transient_unit_with_limits(host, alice_server):
    props = unit_props(host, "jupyter-alice", "ActiveState", "MemoryMax", "CPUQuotaPerSecUSec",
                       "PrivateTmp", "PrivateDevices", "NoNewPrivileges", "User", "Transient")
    uid = host.user(account("alice")).uid
    assert props["ActiveState"] == "active"
    assert props["Transient"] == "yes"
    assert int(props["MemoryMax"]) == 512 * MIB
    assert props["CPUQuotaPerSecUSec"] == "500ms"
    assert props["PrivateTmp"] == "yes"
    assert props["PrivateDevices"] == "yes"
    assert props["NoNewPrivileges"] == "yes"
    assert props["User"] in (account("alice"), str(uid))


def test_server_runs_as_the_user(host, alice_server):
    pid = unit_props(host, "jupyter-alice", "MainPID")["MainPID"]
    assert host.check_output(f"ps -o user= -p {pid}").strip() == account("alice")


def test_h5web_loads_its_server_part_when_first_used(host, alice_server):
    """The viewer's handlers, with h5py, are not in a server until someone
    opens an HDF5 file (hdfhub_h5web); then they answer as H5Web's own do."""
    pid = unit_props(host, "jupyter-alice", "MainPID")["MainPID"]
    assert "/h5py/" not in host.file(f"/proc/{pid}/maps").content_string
    r = alice_server.api("GET", "/user/alice/h5web/paths",
                         params={"file": "shared/data/sample.h5", "path": "/"})
    assert r.status_code == 200 and "/climate/temperature" in r.json(), r.text[:300]
    assert "/h5py/" in host.file(f"/proc/{pid}/maps").content_string


def test_h5web_stand_ins_cover_its_routes(host):
    """hdfhub_h5web serves the routes jupyterlab_h5web itself would, with
    the same handler classes (a new H5Web release that changes them fails here)."""
    env = "/opt/hdfhub/envs/hdf5"
    out = host.check_output(f"""{env}/bin/python -c '
import sys
sys.path.insert(0, "{env}/etc/jupyter/hdfhub")
import hdfhub_h5web
from jupyterlab_h5web.handlers import setup_handlers
class App:
    settings = {{"base_url": "/"}}
    def add_handlers(self, host, handlers):
        self.handlers = handlers
app = App()
setup_handlers(app, "/tmp")
theirs = sorted((url, cls.__name__) for url, cls, _ in app.handlers)
ours = sorted((url, cls.__name__[len("Lazy"):]) for url, cls, _ in hdfhub_h5web.routes("/", "/tmp"))
print(theirs == ours and len(ours))
'""")
    assert out.strip() == "4"


def test_kernel_writes_and_reads_hdf5(host, alice_server):
    alice_server.check_hdf5()


def test_kernel_offers_only_the_registered_environments(host, alice_server):
    # hdfhub's kernels (one per environment), not the server environment's own.
    registered = {path.split("/")[-2]: json.loads(host.file(path).content_string)["display_name"]
                  for path in host.check_output(
                      "ls /usr/local/share/jupyter/kernels/*/kernel.json").split()}
    assert registered["hdf5"] == "Python 3 (HDF5)"
    specs = alice_server.api("GET", "/user/alice/api/kernelspecs").json()
    assert specs["default"] == "hdf5"
    assert {name: s["spec"]["display_name"] for name, s in specs["kernelspecs"].items()} == registered


def test_cpu_limit_is_enforced(host, alice_server):
    # Two busy processes for 4 s: unlimited they would use ~2 cores; the
    # quota is 0.5 core. The kernel reports their CPU time and the wall time.
    out = alice_server.run_code("""
import json, multiprocessing, resource, time
def spin(end):
    while time.time() < end: pass
start = time.time()
ps = [multiprocessing.Process(target=spin, args=(start + 4,)) for _ in range(2)]
[p.start() for p in ps]; [p.join() for p in ps]
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime, "wall": time.time() - start}))
""")
    got = json.loads(out)
    cores = got["cpu"] / got["wall"]
    assert 0.3 < cores < 0.7, f"{got['cpu']:.2f} s CPU in {got['wall']:.2f} s"


def test_memory_limit_is_enforced(host, alice_server):
    with pytest.raises(KernelDied):
        alice_server.run_code("import numpy as np\nx = np.ones(900 * 2**20, dtype=np.uint8)\n"
                              "print(x.sum())", timeout=120)
    # Only the kernel died; the server and its unit are still up.
    assert unit_props(host, "jupyter-alice", "ActiveState")["ActiveState"] == "active"
    assert alice_server.api("GET", "/user/alice/api/status").status_code == 200


def test_non_admin_has_no_sudo_in_server(host, alice_server):
    out = alice_server.run_code(
        "import subprocess\nprint(subprocess.run(['sudo', '-n', 'true'], "
        "capture_output=True).returncode)")
    assert out.strip() != "0"


def test_admin_server_keeps_sudo(host, admin):
    admin.start()
    try:
        assert unit_props(host, "jupyter-admin", "NoNewPrivileges")["NoNewPrivileges"] == "no"
        if not PAM:  # with PAM, sudo rights come from the host's own sudoers
            out = admin.run_code(
                "import subprocess\nprint(subprocess.run(['sudo', '-n', 'true']).returncode)")
            assert out.strip() == "0"
    finally:
        admin.stop()


@firstuse_only
def test_first_start_creates_the_account(host, admin):
    # carol is in no inventory list: the spawner makes her account (TLJH style).
    name = "carol"
    r = admin.api("POST", f"/hub/api/users/{name}")
    assert r.status_code in (201, 409), r.text
    r = admin.api("POST", f"/hub/api/users/{name}/server")
    assert r.status_code in (201, 202), r.text
    wait_for(lambda: (admin.api("GET", f"/hub/api/users/{name}").json()["servers"]
                      .get("", {}).get("ready")), 180, what="carol's server")
    carol = host.user("jupyter-carol")
    assert carol.exists
    assert "jupyterhub-users" in carol.groups
    assert "jupyterhub-admins" not in carol.groups
    home = host.file("/home/jupyter-carol")
    assert (home.user, home.mode) == ("jupyter-carol", 0o700)
    r = admin.api("DELETE", f"/hub/api/users/{name}/server")
    assert r.status_code in (202, 204), r.text
    wait_for(lambda: unit_props(host, "jupyter-carol", "LoadState")["LoadState"] == "not-found",
             60, what="carol's unit to go")


def test_hub_restart_keeps_user_server(host, alice_server):
    pid = unit_props(host, "jupyter-alice", "MainPID")["MainPID"]
    host.check_output("systemctl restart jupyterhub")
    wait_for(lambda: alice_server.api("GET", "/hub/api/").status_code == 200, 60,
             what="hub back after restart")
    assert unit_props(host, "jupyter-alice", "MainPID")["MainPID"] == pid
    r = wait_for(lambda: alice_server.api("GET", "/user/alice/api/status").status_code == 200,
                 60, what="server reachable after hub restart")
    assert r


def test_stop_removes_the_unit(host, alice_server):
    alice_server.stop()
    wait_for(lambda: unit_props(host, "jupyter-alice", "LoadState")["LoadState"] == "not-found",
             30, what="unit jupyter-alice to disappear")
