"""Usage metrics (roles/metrics), in the scenarios that turn them on
(HDFHUB_TEST_METRICS): Prometheus and the node exporter listen on loopback,
kept from users' servers; the hub's metrics answer only the metrics token;
Prometheus holds the hub's spawns and each running server's figures. After
test_load_smoke.py (pytest runs the modules in name order), whose five
users' spawns it finds in Prometheus."""
import json
import os
import shlex
import urllib.parse

import pytest
import requests
from conftest import HTTPS, wait_for
from test_hardening import EXPOSURE_GOAL, exposure, run_json
from test_services import listeners

pytestmark = pytest.mark.skipif(not os.environ.get("HDFHUB_TEST_METRICS"),
                                reason="metrics are off in this scenario")
PROMETHEUS, NODE_EXPORTER = 9090, 9100
TOKEN_FILE = "/etc/prometheus/hdfhub-hub-token"
# What the hub answers on /hub/metrics, without a token and with the
# metrics token (read on the host, never on a command line).
HUB_METRICS = f"""
import json, urllib.error, urllib.request
url = "http://127.0.0.1:8081/hub/metrics"
def get(headers):
    try:
        r = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
token = open({TOKEN_FILE!r}).read().strip()
(anonymous, _), (status, text) = get({{}}), get({{"Authorization": "token " + token}})
print(json.dumps({{"anonymous": anonymous, "token": status,
                  "spawns": "jupyterhub_server_spawn_duration_seconds_count" in text}}))
"""


def query(host, promql):
    """An instant query to the host's Prometheus: [(labels, value)]."""
    url = f"http://127.0.0.1:{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = json.loads(host.check_output(
        "python3 -c " + shlex.quote(f"import urllib.request; print(urllib.request.urlopen({url!r}, "
                                    "timeout=10).read().decode())")))
    assert answer["status"] == "success", answer
    return [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]


@pytest.mark.parametrize("port", [PROMETHEUS, NODE_EXPORTER])
def test_prometheus_and_the_exporter_listen_on_loopback_only(host, port):
    assert {addr for addr, p in listeners(host) if p == port} == {"127.0.0.1"}


@pytest.mark.parametrize("unit", ["prometheus.service", "prometheus-node-exporter.service",
                                  "hdfhub-server-metrics.service"])
def test_metrics_units_meet_the_hardening_goal(host, unit):
    assert exposure(host, unit) <= EXPOSURE_GOAL


def test_the_hub_answers_metrics_only_to_the_token(host):
    got = json.loads(host.check_output("python3 -c " + shlex.quote(HUB_METRICS)))
    assert got == {"anonymous": 403, "token": 200, "spawns": True}
    token = host.file(TOKEN_FILE)
    assert (token.user, token.group, token.mode) == ("root", "prometheus", 0o640)


def test_an_outside_prometheus_scrapes_the_hub_through_nginx_with_a_token(host, ca_file):
    """docs/operations.md#usage-metrics: https://<hub>/hub/metrics, with a
    read:metrics token in the request, and only then."""
    session = requests.Session()
    session.trust_env = False
    token = host.file(TOKEN_FILE).content_string.strip()
    anonymous = session.get(f"{HTTPS}/hub/metrics", verify=ca_file, timeout=30)
    scraped = session.get(f"{HTTPS}/hub/metrics", verify=ca_file, timeout=30,
                          headers={"Authorization": f"token {token}"})
    assert anonymous.status_code == 403
    assert scraped.status_code == 200 and "jupyterhub_active_users" in scraped.text


def test_prometheus_has_the_load_tests_spawns(host):
    """Five users started servers in test_load_smoke.py; Prometheus scrapes
    the hub every 15 s."""
    def spawns():
        found = query(host, 'sum(jupyterhub_server_spawn_duration_seconds_count{status="success"})')
        return found and found[0][1] >= 5
    wait_for(spawns, timeout=60, interval=2, what="five successful spawns in Prometheus")
    up = {labels["job"]: value for labels, value in query(host, "up")}
    assert up == {"prometheus": 1, "node": 1, "jupyterhub": 1}


def test_a_running_servers_figures_reach_prometheus(host, alice_server):
    """Memory, its peak, the limit (hdfhub_mem_limit 512M) and CPU time, by
    user, from the server's cgroup through the node exporter."""
    run_json(alice_server, "import json; b = bytearray(64 * 2**20); print(json.dumps(len(b)))")

    def figures():
        got = {labels["__name__"]: value for labels, value in
               query(host, '{__name__=~"hdfhub_server_.*", user="alice"}')}
        return got if "hdfhub_server_memory_bytes" in got else None
    got = wait_for(figures, timeout=60, interval=2, what="alice's server's figures in Prometheus")
    assert got["hdfhub_server_memory_bytes"] > 0
    assert got["hdfhub_server_memory_peak_bytes"] >= got["hdfhub_server_memory_bytes"]
    assert got["hdfhub_server_memory_limit_bytes"] == 512 * 2**20
    assert got["hdfhub_server_cpu_seconds_total"] > 0
    assert got["hdfhub_server_oom_kills"] == 0


def test_a_users_server_reaches_neither_prometheus_nor_the_exporter(alice_server):
    got = run_json(alice_server, f"""
import json, socket
found = {{}}
for port in ({PROMETHEUS}, {NODE_EXPORTER}):
    try:
        socket.create_connection(("127.0.0.1", port), 5).close()
        found[port] = "open"
    except OSError as e:
        found[port] = type(e).__name__
print(json.dumps(found))
""")
    assert got == {str(PROMETHEUS): "ConnectionRefusedError", str(NODE_EXPORTER): "ConnectionRefusedError"}
