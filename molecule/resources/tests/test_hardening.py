"""Hardening: the hub's units, nginx, the firewall, and what a user's server
can reach, each checked by doing the thing an attacker would try."""
import concurrent.futures
import json
import os
import re
import threading
import time

import pytest
import requests
from conftest import (HTTP, HTTPS, HubError, HubUser, account, firstuse_only, password,
                      wait_for)

# Issue 5's goal for systemd-analyze's exposure score (0 safe, 10 exposed).
EXPOSURE_GOAL = 5.0
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
}
# The firewall's default open ports (hdfhub_firewall_allowed_tcp_ports).
ALLOWED_PORTS = {22, 80, 443}


def exposure(host, unit):
    """The loaded unit's score, its drop-ins included (nginx's is Debian's
    unit plus the role's drop-in)."""
    out = host.check_output(f"systemd-analyze security {unit} 2>&1")
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


# --- systemd units ---------------------------------------------------------

@pytest.mark.parametrize("unit", ["jupyterhub.service", "jupyterhub-proxy.service",
                                  "nginx.service", "hdfhub-backup.service"])
def test_unit_exposure_meets_the_goal(host, unit):
    assert exposure(host, unit) <= EXPOSURE_GOAL


def test_hub_sees_the_system_read_only(host):
    # The rest of the suite shows the hub still adds users and starts units.
    pid = host.check_output("systemctl show -P MainPID jupyterhub")
    # mount point -> options; a later line is mounted on top of an earlier one.
    mounts = {f[4]: f[5].split(",") for f in
              (line.split() for line in host.check_output(f"cat /proc/{pid}/mountinfo").splitlines())}
    assert "ro" in mounts["/"]
    for writable in ("/etc", "/home", "/var/lib/hdfhub"):
        assert "rw" in mounts[writable], writable


# --- nginx -----------------------------------------------------------------

def assert_no_version(r):
    assert r.headers["Server"] == "nginx"
    assert "nginx/" not in r.text


def test_no_nginx_version_on_nginx_pages():
    # The redirect is a page nginx makes itself (so is the 429 below).
    r = requests.get(f"{HTTP}/hub/login", allow_redirects=False, timeout=30)
    assert r.status_code == 301
    assert_no_version(r)


def assert_security_headers(r):
    for name, value in SECURITY_HEADERS.items():
        # Two copies would arrive joined ("nosniff, nosniff").
        assert r.headers.get(name) == value, (r.url, name, r.headers.get(name))


def test_security_headers_on_hub_pages(ca_file):
    r = requests.get(f"{HTTPS}/hub/login", verify=ca_file, timeout=30)
    assert r.status_code == 200
    assert_security_headers(r)
    # The hub's own policy still arrives, untouched by nginx.
    assert "frame-ancestors" in r.headers["Content-Security-Policy"]


def test_security_headers_on_jupyterlab(alice_server):
    r = alice_server.api("GET", f"/user/{alice_server.name}/lab")
    assert r.status_code == 200
    assert "jupyter-config-data" in r.text
    assert_security_headers(r)
    assert "frame-ancestors" in r.headers["Content-Security-Policy"]


def login_limit(host):
    """(requests per second, burst) of the login limit, from nginx's config."""
    conf = host.file("/etc/nginx/conf.d/hdfhub.conf").content_string
    count, unit = re.search(r"zone=hdfhub_login:\S+ rate=(\d+)r/([sm]);", conf).groups()
    burst = re.search(r"limit_req zone=hdfhub_login burst=(\d+);", conf).group(1)
    return int(count) / (1 if unit == "s" else 60), int(burst)


# firstuse and native lock a name this long after five wrong passwords.
LOCKOUT_S = 60


def logs_in(name, ca_file):
    try:
        return HubUser(name, ca_file).login().token
    except HubError:
        return None


def slowest_health_while(work, ca_file):
    """Run `work()`; meanwhile time GET /hub/health through nginx.
    (work's result, the slowest answer in seconds)."""
    session = HubUser("health", ca_file).new_session()
    slowest, done = [0.0], threading.Event()

    def poll():
        while not done.is_set():
            start = time.monotonic()
            session.get(f"{HTTPS}/hub/health", timeout=30).raise_for_status()
            slowest[0] = max(slowest[0], time.monotonic() - start)
            time.sleep(0.1)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        return work(), slowest[0]
    finally:
        done.set()
        poller.join()


@pytest.mark.parametrize("path", ["login form", "token API"])
def test_password_guessing_is_throttled(host, alice, ca_file, path):
    """More guesses at once than nginx queues: some get 429, none gets in,
    and the hub keeps answering meanwhile. `alice` has logged in, so her
    password is set (firstuse would otherwise take the first guess)."""
    rate, burst = login_limit(host)
    session = HubUser(alice.name, ca_file).new_session()
    session.get(f"{HTTPS}/hub/login", timeout=30).raise_for_status()
    xsrf = session.cookies.get("_xsrf")

    def guess(i):
        if path == "token API":
            return session.post(f"{HTTPS}/hub/api/users/{alice.name}/tokens", timeout=120,
                                json={"auth": {"username": alice.name, "password": f"wrong-{i}"}})
        return session.post(f"{HTTPS}/hub/login?next=", allow_redirects=False, timeout=120,
                            data={"username": alice.name, "password": f"wrong-{i}",
                                  "_xsrf": xsrf})

    attempts = burst + 10

    def burst_of_guesses():
        with concurrent.futures.ThreadPoolExecutor(attempts) as pool:
            return list(pool.map(guess, range(attempts)))

    replies, slowest = slowest_health_while(burst_of_guesses, ca_file)
    codes = [r.status_code for r in replies]
    print(f"\n{attempts} guesses by the {path}: {sorted(codes)}; "
          f"slowest /hub/health meanwhile {slowest:.2f} s")
    assert codes.count(429) >= 1, codes
    # A login is a redirect (302), a token a 201: neither, ever.
    assert 302 not in codes and 201 not in codes, codes
    assert slowest < 1.0
    assert_no_version(next(r for r in replies if r.status_code == 429))
    # Once the bucket has drained and any lock has passed, the owner gets in.
    wait_for(lambda: logs_in(alice.name, ca_file), burst / rate + LOCKOUT_S + 60, interval=5,
             what=f"{alice.name} to log in again")


INSIDE = """
import json, urllib.error, urllib.request
def post(guess):
    req = urllib.request.Request(
        "http://127.0.0.1:8081/hub/api/users/{name}/tokens", method="POST",
        data=json.dumps({{"auth": {{"username": "{name}", "password": guess}}}}).encode(),
        headers={{"Content-Type": "application/json"}})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
codes = [post(f"wrong-{{i}}") for i in range(8)]
codes.append(post({right!r}))
print(json.dumps(codes))
"""


@firstuse_only
def test_guesses_from_inside_a_server_lock_the_name(alice_server, ca_file):
    """To the hub's own port, past nginx: after five wrong passwords even the
    right one is refused, until the lock passes."""
    HubUser("bob", ca_file).login()  # bob's password is set before anyone guesses
    codes = json.loads(alice_server.run_code(INSIDE.format(name="bob", right=password("bob"))))
    print(f"\nguesses at 127.0.0.1:8081 as bob: {codes}")
    assert codes == [403] * len(codes)
    wait_for(lambda: logs_in("bob", ca_file), LOCKOUT_S + 60, interval=5, what="bob unlocked")


# --- firewall --------------------------------------------------------------

def test_firewall_runs_at_boot(host):
    service = host.service("nftables")
    assert service.is_enabled
    assert host.file("/etc/nftables.conf").contains("Ansible managed")


def test_firewall_drops_all_but_the_allowed_ports(host):
    table = json.loads(host.check_output("nft -j list table inet hdfhub"))["nftables"]
    chains = {o["chain"]["name"]: o["chain"] for o in table if "chain" in o}
    assert (chains["input"]["hook"], chains["input"]["policy"]) == ("input", "drop")
    ports = set()
    for o in table:
        rule = o.get("rule", {})
        if rule.get("chain") != "input":
            continue
        for expr in rule["expr"]:
            match = expr.get("match", {})
            if match.get("left", {}).get("payload", {}).get("field") == "dport":
                right = match["right"]
                ports |= set(right["set"] if isinstance(right, dict) else [right])
    assert ports == ALLOWED_PORTS


def test_firewall_drops_traffic_to_other_ports(host, peer):
    connect, address = peer.connect, peer.address
    probe = "hdfhub-fw-probe"
    host.check_output(f"systemd-run --unit={probe} python3 -m http.server 9999 --bind 0.0.0.0")
    try:
        check = f"python3 -c \"import socket; socket.create_connection(('{address}', 9999), 5)\""
        for _ in range(50):  # the listener is up: loopback is allowed
            if host.run(check).rc == 0:
                break
            time.sleep(0.2)
        assert host.run(check).rc == 0
        assert connect(9999) == "timeout"   # listening, but not allowed: dropped
        assert connect(443) == "open"       # nginx
        assert connect(22) == "open"        # let through, to the image's sshd
    finally:
        host.run(f"systemctl stop {probe}")


# --- what a user's server can reach ---------------------------------------

def run_json(server, code):
    return json.loads(server.run_code(code).strip().splitlines()[-1])


def test_user_cannot_write_the_environment_or_system(host, alice_server):
    env = host.check_output("readlink -f /opt/hdfhub/envs/hdf5")
    got = run_json(alice_server, f"""
import json, os, sysconfig
results = {{}}
for d in [{env!r}, sysconfig.get_paths()["purelib"], "/usr/local/bin", "/etc", "/var/lib",
          "/opt/hdfhub"]:
    try:
        open(os.path.join(d, "hdfhub-write-probe"), "w").close()
        results[d] = "written"
    except OSError as e:
        results[d] = e.strerror
open(os.path.expanduser("~/hdfhub-write-probe"), "w").close()
results["home"] = "written"
print(json.dumps(results))
""")
    assert got.pop("home") == "written"
    assert "written" not in got.values(), got


def test_user_cannot_see_other_users(host, alice_server):
    bob = host.user(account("bob"))
    got = run_json(alice_server, f"""
import json, os
def probe(path):
    try:
        os.listdir(path)
        return "readable"
    except OSError as e:
        return e.strerror
print(json.dumps({{"home": probe({bob.home!r}), "run": probe("/run/user/{bob.uid}"),
                  "homes": sorted(os.listdir("/home"))}}))
""")
    assert got["home"] != "readable"
    assert got["run"] != "readable"
    assert got["homes"] == [os.path.basename(host.user(account("alice")).home)]


def test_user_reaches_only_the_hub_api(host, alice_server):
    got = run_json(alice_server, """
import json, os, socket, urllib.request
api = os.environ["JUPYTERHUB_API_URL"]
req = urllib.request.Request(api + "/user", headers={
    "Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]})
me = json.load(urllib.request.urlopen(req, timeout=10))["name"]
proxy = {}
for port in (8000, 8001):
    try:
        socket.create_connection(("127.0.0.1", port), 5).close()
        proxy[port] = "open"
    except OSError as e:
        proxy[port] = type(e).__name__
print(json.dumps({"api": api, "me": me, "proxy": proxy}))
""")
    assert got["api"].startswith("http://127.0.0.1:8081/")
    assert got["me"] == alice_server.name
    # Neither the proxy's API nor its public port, where the hub would
    # believe an X-Real-IP a server made up (the guests' cap per client).
    assert got["proxy"] == {"8000": "ConnectionRefusedError", "8001": "ConnectionRefusedError"}
    # Root (the hub) still reaches the proxy's API, and the route to alice is there.
    routes = json.loads(host.check_output(
        "python3 -c \"import re, urllib.request as u; "
        "t = re.search(r'CONFIGPROXY_AUTH_TOKEN=(\\S+)', open('/var/lib/hdfhub/proxy.env').read()); "
        "print(u.urlopen(u.Request('http://127.0.0.1:8001/api/routes', "
        "headers={'Authorization': 'token ' + t.group(1)})).read().decode())\""))
    assert f"/user/{alice_server.name}" in routes
