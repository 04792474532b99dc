"""The warm room (playbooks/warm.yml) on the offline workshop's host: the
trainer starts the listed people's servers before the room arrives; each
lands in a running server, and the idle culler spares them until the hold
ends, then culls them as any idle server."""
import json
import time

import pytest

from hubfixtures import HubUser, run_site, wait_for

ROOM = ["load1", "load2"]
HOLD_S = 60
HOLD_FILE = "/var/lib/hdfhub/warm-room.json"
# The culler as the hub runs it (its config spares held servers), with a
# one-second timeout and the Ansible service's token for the API, until the
# given units have stopped (60 s at most); it prints what it culled.
CULL = ("JUPYTERHUB_API_TOKEN=$(cat /var/lib/hdfhub/ansible-api-token) "
        "JUPYTERHUB_API_URL=http://127.0.0.1:8081/hub/api PYTHONPATH=/opt/hdfhub/lib "
        "/opt/hdfhub/hub/bin/python3 -m jupyterhub_idle_culler --timeout=1 --cull-every=5 "
        "--config=/etc/hdfhub/idle_culler_config.py > /tmp/culler.log 2>&1 & culler=$!; "
        "for i in $(seq 60); do sleep 1; systemctl is-active -q {units} || break; done; "
        "kill $culler; cat /tmp/culler.log")


def invocation(host, name):
    return host.check_output(f"systemctl show -p InvocationID --value jupyter-{name}")


def culled_until_stopped(host, *names):
    """Run the culler until these users' servers have stopped; the users it culled."""
    out = host.run(CULL.format(units=" ".join(f"jupyter-{n}" for n in names)))
    return sorted(line.split("Culling server ")[1].split()[0].split("/")[0]
                  for line in (out.stdout + out.stderr).splitlines() if "Culling server " in line)


@pytest.fixture(scope="module")
def warmed(host):
    result = run_site({"hdfhub_warm_users": ROOM, "hdfhub_warm_hold": HOLD_S}, playbook="warm.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    return result


def test_strangers_are_refused_before_anything_starts(host):
    before = host.file(HOLD_FILE).exists and host.file(HOLD_FILE).content_string
    result = run_site({"hdfhub_warm_users": ["load1", "nobody"]}, playbook="warm.yml")
    assert result.returncode != 0
    assert "hdfhub_warm_users lists nobody, who may not log in" in result.stdout
    assert (host.file(HOLD_FILE).exists and host.file(HOLD_FILE).content_string) == before
    assert not host.service("jupyter-nobody").is_running


def test_the_room_is_warm_before_anyone_logs_in(host, warmed):
    assert "Started 2, already running 0" in warmed.stdout
    for name in ROOM:
        assert host.service(f"jupyter-{name}").is_running
    hold = json.loads(host.file(HOLD_FILE).content_string)
    assert hold["users"] == ROOM and abs(hold["until"] - time.time() - HOLD_S) < HOLD_S
    assert host.file(HOLD_FILE).mode == 0o600


def test_a_warmed_attendee_lands_in_the_running_server(host, warmed, ca_file):
    unit = invocation(host, "load1")
    load1 = HubUser("load1", ca_file).login()
    r = load1.session.get(f"{load1.base}/hub/spawn", allow_redirects=False, timeout=60)
    assert r.status_code == 302 and r.headers["Location"].startswith("/user/load1/")
    assert load1.status_ok()
    assert invocation(host, "load1") == unit, "the login started a new server"


def test_a_second_run_starts_nothing_new(host, warmed):
    units = {name: invocation(host, name) for name in ROOM}
    again = run_site({"hdfhub_warm_users": ROOM, "hdfhub_warm_hold": HOLD_S}, playbook="warm.yml")
    assert again.returncode == 0 and "Started 0, already running 2" in again.stdout
    assert {name: invocation(host, name) for name in ROOM} == units


def test_the_culler_spares_the_room_until_the_hold_ends(host, warmed, ca_file):
    """The last test here: it culls the room."""
    # Someone who was not warmed, idle: the same pass culls them.
    HubUser("load3", ca_file).login().start()
    culled = culled_until_stopped(host, "load3")
    assert "load3" in culled and not set(ROOM) & set(culled), culled
    for name in ROOM:
        assert host.service(f"jupyter-{name}").is_running
    until = json.loads(host.file(HOLD_FILE).content_string)["until"]
    time.sleep(max(0.0, until - time.time()) + 1)
    assert set(ROOM) <= set(culled_until_stopped(host, *ROOM))
    wait_for(lambda: not any(host.service(f"jupyter-{n}").is_running for n in ROOM), 60,
             what="the room's servers to stop")
