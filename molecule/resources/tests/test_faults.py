"""Faults a running hub must get over by itself: a killed hub, a killed
proxy, an nginx restart and a broken nginx reload, a user's unit left
`failed`, a respawn after a hub restart, one user filling memory or the disk,
and a reboot of the whole host.

Every request goes through nginx and TLS from this machine, as in
test_e2e.py; `host` looks inside the container. No fault is mocked: the
processes are really killed and the container really restarted.

The reboot comes last in this module, and pytest runs the modules in file
order, so test_hardening.py, test_permissions.py, test_services.py and
test_tls.py then check a host that has just booted (units enabled, the
firewall loaded at boot, the system not degraded). The session's login
tokens (conftest.py) outlive the reboot: the hub's database and cookie secret
persist.
"""
import pathlib
import random
import shutil
import subprocess
import sys
import threading
import time

import pytest
import requests
from conftest import HubUser, KernelDied, account, unit_props, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[3]
# systemdspawner/TLJH expectation: a killed hub is back within 10 s.
HUB_BACK_S = 10
# Generous upper bounds on waits, not expected timings: they only turn a hang
# into a failure. ROUTES_BACK_S is far below the hub's own periodic route
# check (last_activity_interval, 300 s), so that check cannot pass it.
ROUTES_BACK_S = 60
SPAWN_S = 180
BOOT_S = 300
# How long one request of a bystander (the hub API, another user's kernel)
# may take while someone hogs memory or the disk before it counts as hung.
PROBE_TIMEOUT_S = 30
BROKEN_CONF = "/etc/nginx/conf.d/zz-broken.conf"
HOG_FILE = "faults-hog.bin"
HOG_MIB = 3072


def main_pid(host, unit):
    return int(unit_props(host, unit, "MainPID")["MainPID"])


def answers(check):
    """check() as a bool; a refused or cut connection is a no too."""
    try:
        return bool(check())
    except (requests.RequestException, OSError):
        return False


def hub_answers(user):
    return answers(lambda: user.api("GET", "/hub/api/", timeout=5).status_code == 200)


def server_answers(user):
    return answers(lambda: user.status_ok(timeout=10))


def wait_ready(user, timeout=SPAWN_S):
    wait_for(lambda: (user.server() or {}).get("ready"), timeout,
             what=f"server of {user.name} ready")
    wait_for(lambda: server_answers(user), 60, what=f"{user.name}'s server through nginx")


@pytest.fixture(scope="module")
def alice_up(alice):
    if alice.server() is None:
        alice.start()
    wait_ready(alice)
    yield alice
    if answers(lambda: alice.server() is not None):
        alice.stop()


@pytest.fixture(scope="module")
def bob_up(ca_file):
    bob = HubUser("bob", ca_file).login()
    bob.start()
    wait_ready(bob)
    yield bob
    if answers(lambda: bob.server() is not None):
        bob.stop()


def test_hub_kill_9_is_back_in_time_and_keeps_servers(host, alice_up):
    unit = "jupyter-alice"
    before = unit_props(host, unit, "MainPID", "InvocationID")
    # A kernel with state, which must outlive the hub.
    value = random.randrange(10**15)
    kernel = alice_up.new_kernel()
    ws = alice_up.connect(kernel)
    alice_up.execute(ws, f"x = {value}")
    ws.close()

    hub_pid = main_pid(host, "jupyterhub")
    restarts = int(unit_props(host, "jupyterhub", "NRestarts")["NRestarts"])
    start = time.monotonic()
    host.check_output(f"kill -9 {hub_pid}")
    # First the old process must be gone, so the old hub cannot be what answers.
    wait_for(lambda: main_pid(host, "jupyterhub") != hub_pid, 30, interval=0.1,
             what="the killed hub to go")
    wait_for(lambda: hub_answers(alice_up), 60, interval=0.2, what="hub back after kill -9")
    took = time.monotonic() - start
    assert took <= HUB_BACK_S, f"hub answered {took:.1f} s after kill -9 (bound {HUB_BACK_S} s)"
    # systemd brought it back (Restart=always), nobody else.
    assert int(unit_props(host, "jupyterhub", "NRestarts")["NRestarts"]) == restarts + 1

    after = unit_props(host, unit, "MainPID", "InvocationID", "ActiveState")
    assert after["ActiveState"] == "active"
    assert (after["MainPID"], after["InvocationID"]) == (before["MainPID"], before["InvocationID"])
    wait_for(lambda: server_answers(alice_up), 60, what="alice's server through nginx")
    ws = alice_up.connect(kernel)
    try:
        assert alice_up.execute(ws, "print(x)").strip() == str(value)
    finally:
        ws.close()
        alice_up.delete_kernel(kernel)


def test_proxy_kill_9_restores_routes_without_admin(host, alice_up):
    wait_for(lambda: server_answers(alice_up), 60, what="alice's server before the fault")
    server_pid = main_pid(host, "jupyter-alice")
    proxy_pid = main_pid(host, "jupyterhub-proxy")
    host.check_output(f"kill -9 {proxy_pid}")
    wait_for(lambda: main_pid(host, "jupyterhub-proxy") not in (0, proxy_pid), 30,
             interval=0.2, what="systemd to restart the proxy")
    # The new proxy starts with an empty routing table; the user's route must
    # come back by itself (jupyterhub.service is PartOf= the proxy: a hub
    # restart re-adds every route), long before the 5-minute route check.
    wait_for(lambda: server_answers(alice_up), ROUTES_BACK_S, interval=0.5,
             what="alice's route back in the new proxy")
    assert hub_answers(alice_up)
    assert main_pid(host, "jupyter-alice") == server_pid


def test_nginx_restart_serves_again(host, alice_up):
    pid = main_pid(host, "nginx")
    host.check_output("systemctl restart nginx")
    assert main_pid(host, "nginx") not in (0, pid)
    wait_for(lambda: hub_answers(alice_up) and server_answers(alice_up), 60,
             what="the site over TLS after an nginx restart")


def notify_reload_playbook(path):
    """A play that notifies nginx_tls's real 'Reload nginx' handlers."""
    handlers = ROOT / "roles/nginx_tls/handlers/main.yml"
    path.write_text(f"""---
- name: Notify nginx_tls's reload handlers
  hosts: all
  gather_facts: false
  handlers:
    - name: The handlers of roles/nginx_tls
      ansible.builtin.import_tasks: {handlers}
  tasks:
    - name: A configuration change
      ansible.builtin.command: "true"
      changed_when: true
      notify: Reload nginx
""")
    return path


def nginx_workers(host):
    return sorted(host.check_output(f"pgrep -P {main_pid(host, 'nginx')}").split())


def test_broken_nginx_config_is_refused_and_site_keeps_serving(host, alice_up, tmp_path,
                                                               request):
    playbook = shutil.which("ansible-playbook", path=str(pathlib.Path(sys.executable).parent)) \
        or shutil.which("ansible-playbook")
    assert playbook, "ansible-playbook not found"
    workers = nginx_workers(host)
    host.check_output(f"printf 'server {{ listen 443 ssl\\n' > {BROKEN_CONF}")
    try:
        proc = subprocess.run(
            [playbook, "-i", f"{request.config.option.hosts},",
             "-c", "hdfhub_nsenter", "-e", "ansible_python_interpreter=/usr/bin/python3",
             str(notify_reload_playbook(tmp_path / "reload.yml"))],
            capture_output=True, text=True, timeout=300, cwd=ROOT)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        # The run stopped at the validation, with nginx's own complaint, and
        # never reached the reload.
        assert "RUNNING HANDLER [Validate the nginx configuration]" in out, out[-3000:]
        assert "zz-broken.conf" in out, out[-3000:]
        assert "Reload nginx with the validated configuration" not in out, out[-3000:]
        # The old configuration keeps serving, with the same workers.
        assert hub_answers(alice_up) and server_answers(alice_up)
        assert nginx_workers(host) == workers
    finally:
        host.run(f"rm -f {BROKEN_CONF}")
    assert host.run("nginx -t").rc == 0


def test_failed_user_unit_does_not_block_a_new_spawn(host, alice_up):
    # systemdspawner issue #87.
    unit = "jupyter-alice"
    old_pid = main_pid(host, unit)
    host.check_output(f"systemctl kill -s KILL {unit}")
    wait_for(lambda: unit_props(host, unit, "ActiveState")["ActiveState"] == "failed", 30,
             what=f"{unit} to end failed")
    # Whether or not the hub has noticed yet, a start must work (the API
    # polls the server first).
    alice_up.request_start()
    wait_ready(alice_up)
    props = unit_props(host, unit, "ActiveState", "MainPID")
    assert props["ActiveState"] == "active"
    assert int(props["MainPID"]) not in (0, old_pid)
    assert alice_up.run_code("print(6 * 7)").strip() == "42"


def has_hsds(host):
    return host.file("/etc/systemd/system/hdfhub-hsds.service").exists


# A domain of alice's in HSDS, written before a fault and read after it.
HSDS_WRITE = """
import h5pyd, numpy as np
with h5pyd.File("/home/alice/faults.h5", "w") as f:
    f.create_dataset("x", data=np.arange(100_000), chunks=(10_000,), compression="gzip")
print("written")
"""
HSDS_READ = """
import h5pyd, requests, os
with h5pyd.File("/home/alice/faults.h5", "r") as f:
    total = int(f["x"][()].sum())
print(requests.get(os.environ["HS_ENDPOINT"] + "/about", timeout=30).json()["state"], total)
"""
HSDS_AFTER = f"READY {sum(range(100_000))}"


def test_respawn_after_hub_restart(host, alice_up):
    # systemdspawner issue #142.
    if has_hsds(host):
        alice_up.run_code(HSDS_WRITE)
    host.check_output("systemctl restart jupyterhub")
    wait_for(lambda: hub_answers(alice_up), 60, what="hub back after restart")
    alice_up.stop()
    wait_for(lambda: unit_props(host, "jupyter-alice", "LoadState")["LoadState"] == "not-found",
             60, what="alice's unit to go")
    alice_up.request_start()
    wait_ready(alice_up)
    assert unit_props(host, "jupyter-alice", "ActiveState")["ActiveState"] == "active"
    assert alice_up.run_code("print(6 * 7)").strip() == "42"
    if has_hsds(host):
        assert alice_up.run_code(HSDS_READ).strip().splitlines()[-1] == HSDS_AFTER


MEMORY_HOG = """
import time
import numpy as np
chunks = []
while True:  # 16 MiB more every 50 ms, until the cgroup's OOM killer ends it
    chunks.append(np.ones(16 * 2**20, dtype=np.uint8))
    time.sleep(0.05)
"""

DISK_HOG = f"""
import os, subprocess
subprocess.run(["dd", "if=/dev/zero", "of={HOG_FILE}", "bs=1M", "count={HOG_MIB}",
                "conv=fsync", "status=none"], check=True)
print(os.path.getsize("{HOG_FILE}"))
"""


@pytest.mark.parametrize("hog", ["memory", "disk"])
def test_one_user_hogging_leaves_hub_and_others_answering(host, alice_up, bob_up, hog):
    home = host.user(account("alice")).home
    outcome = {}

    def run_hog():
        try:
            outcome["out"] = alice_up.run_code(MEMORY_HOG if hog == "memory" else DISK_HOG,
                                               timeout=600)
        except Exception as e:  # noqa: BLE001 (reported by the asserts below)
            outcome["error"] = e

    kernel = bob_up.new_kernel()
    ws = bob_up.connect(kernel, timeout=PROBE_TIMEOUT_S)
    worst, during = 0.0, 0
    hogger = threading.Thread(target=run_hog, daemon=True)
    try:
        hogger.start()
        while hogger.is_alive():
            t0 = time.monotonic()
            r = bob_up.api("GET", "/hub/api/users/bob", timeout=PROBE_TIMEOUT_S)
            assert r.status_code == 200, f"hub API while alice hogs {hog}: {r.status_code}"
            assert bob_up.execute(ws, "print(2 + 2)", timeout=PROBE_TIMEOUT_S).strip() == "4"
            worst = max(worst, time.monotonic() - t0)
            during += hogger.is_alive()
        hogger.join()
        if hog == "memory":
            assert isinstance(outcome.get("error"), KernelDied), outcome
        else:
            assert "error" not in outcome, outcome
            assert int(outcome["out"]) == HOG_MIB * 2**20
        # The probes really overlapped the hog.
        assert during >= 1, f"no probe finished while the {hog} hog ran"
        # Afterwards: the hub, bob's kernel and alice's server all answer.
        assert hub_answers(bob_up)
        assert bob_up.execute(ws, "print(2 + 2)", timeout=PROBE_TIMEOUT_S).strip() == "4"
        assert unit_props(host, "jupyter-alice", "ActiveState")["ActiveState"] == "active"
        assert server_answers(alice_up)
        print(f"{hog} hog: {during} probes during it, slowest {worst:.2f} s")
    finally:
        ws.close()
        bob_up.delete_kernel(kernel)
        hogger.join(600)
        host.run(f"rm -f {home}/{HOG_FILE}")
    assert not host.file(f"{home}/{HOG_FILE}").exists


def container_started_at(name):
    return subprocess.run(["podman", "container", "inspect", "--format", "{{.State.StartedAt}}",
                           name], capture_output=True, text=True, check=True).stdout.strip()


def test_reboot_hub_comes_back_with_homes_intact(host, alice_up, ca_file, request):
    """Last in this module (see the module docstring)."""
    name = request.config.option.hosts
    home = host.user(account("alice")).home
    path = f"{home}/faults-reboot-check.bin"
    alice_up.run_code(f"import os\nopen({path!r}, 'wb').write(os.urandom(4 << 20))")
    digest = host.check_output(f"sha256sum {path}").split()[0]
    if has_hsds(host):
        alice_up.run_code(HSDS_WRITE)
    started = container_started_at(name)

    subprocess.run(["podman", "restart", name], check=True, capture_output=True, timeout=BOOT_S)
    assert container_started_at(name) != started
    try:
        wait_for(lambda: hub_answers(alice_up), BOOT_S, interval=1,
                 what="the hub after the reboot")
        # The session's token still works (state persisted), so later modules can use it.
        assert alice_up.api("GET", "/hub/api/users/alice").status_code == 200
        assert host.check_output(f"sha256sum {path}").split()[0] == digest
        # A fresh login through the form, and a spawn that reads the file back.
        again = HubUser("alice", ca_file).login()
        assert again.server() is None, "a server survived a reboot?"
        again.start(timeout=SPAWN_S)
        wait_ready(again)
        out = again.run_code(f"import hashlib\nprint(hashlib.sha256(open({path!r}, 'rb')"
                             ".read()).hexdigest())")
        assert out.strip() == digest
        if has_hsds(host):
            # HSDS came back by itself, READY, with the domain written before.
            assert again.run_code(HSDS_READ).strip().splitlines()[-1] == HSDS_AFTER
        assert host.run("systemctl is-system-running --wait").stdout.strip() == "running"
    finally:
        host.run(f"rm -f {path}")
