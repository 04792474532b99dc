"""HSDS on the hub (hdfhub_hsds_enabled in this scenario): real hub users,
through kernels the hub spawned, use h5pyd with nothing configured; HSDS
keeps each user's folder to its owner, serves the shared sample to
everyone, and no user process reaches it except through nginx on loopback."""
import concurrent.futures
import configparser
import json
import re
import shlex
import threading

import pytest
import requests

from hubfixtures import HTTP, HTTPS, HubUser, run_site

SOCKETS = "/run/hdfhub-hsds"


def run_json(user, code):
    return json.loads(user.run_code(code).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bob(ca_file):
    return HubUser("bob", ca_file).login()


@pytest.fixture(scope="module")
def servers(alice, bob):
    alice.start()
    bob.start()
    yield alice, bob
    alice.stop()
    bob.stop()


def status(host, path, user=""):
    """HTTP status and body of a GET to HSDS through nginx on loopback, from
    the host, as `user` with a wrong password (or anonymously)."""
    code = f"""
import base64, json, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1:5101{path}")
if {user!r}:
    request.add_header("Authorization", "Basic " + base64.b64encode(b"{user}:wrong").decode())
try:
    with urllib.request.urlopen(request, timeout=30) as r:
        print(json.dumps([r.status, r.read().decode()]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, ""]))
"""
    return json.loads(host.check_output(f"python3 -c {shlex.quote(code)}"))


def test_hsds_is_ready_with_its_data_nodes(host):
    code, body = status(host, "/about")
    assert code == 200
    about = json.loads(body)
    assert about["state"] == "READY" and about["node_count"] == 2


def test_hsds_listens_on_no_network_port(host):
    """Its nodes have no network at all (Unix sockets only); nginx serves it
    on loopback, and from outside only over TLS (hdfhub_hsds_public here)."""
    listening = host.check_output("ss -Htlnp")
    assert "hsds-node" not in listening and "python" not in listening.split("users:")[0]
    ports = {line.split()[3] for line in listening.splitlines() if ":5101" in line.split()[3]}
    assert ports == {"127.0.0.1:5101"}


@pytest.mark.parametrize("unit", ["hdfhub-hsds.service", "hdfhub-hsds-dn@0.service"])
def test_units_are_hardened(host, unit):
    out = host.check_output(f"systemd-analyze security {unit}")
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert exposure <= 5.0


def test_a_user_writes_and_reads_back_in_their_own_folder(servers):
    alice, _ = servers
    got = run_json(alice, """
import json, os
import h5pyd, numpy as np
path = f"/home/{os.environ['HS_USERNAME']}/written.h5"
data = np.arange(200_000, dtype="f8").reshape(200, 1000)
with h5pyd.File(path, "w") as f:
    f.create_dataset("x", data=data, chunks=(50, 250), compression="gzip")
with h5pyd.File(path, "r") as f:
    back = f["x"][...]
    chunks = f["x"].chunks
print(json.dumps({"same": bool((back == data).all()), "chunks": list(chunks),
                  "user": os.environ["HS_USERNAME"], "endpoint": os.environ["HS_ENDPOINT"]}))
""")
    assert got == {"same": True, "chunks": [50, 250], "user": "alice",
                   "endpoint": "http://127.0.0.1:5101"}


def test_another_user_is_refused_in_that_folder(servers):
    alice, bob = servers
    run_json(alice, """
import h5pyd
with h5pyd.File("/home/alice/private.h5", "w") as f:
    f["x"] = [1, 2, 3]
print("{}")
""")
    got = run_json(bob, """
import json, re
import h5pyd
result = {}
for mode, path in [("r", "/home/alice/private.h5"), ("w", "/home/alice/bobs.h5"),
                   ("a", "/home/alice/private.h5")]:
    try:
        h5pyd.File(path, mode).close()
        result[mode] = "allowed"
    except OSError as e:
        # h5pyd gives the HTTP status as errno, or for "a" only in the text.
        found = re.search(r"status code: (\\d+)", str(e))
        result[mode] = e.errno or (int(found.group(1)) if found else str(e))
# Nor may bob list what alice's folder holds, or who has a folder.
for folder in ["/home/alice/", "/home/"]:
    try:
        result[folder] = list(h5pyd.Folder(folder))
    except OSError as e:
        result[folder] = e.errno
print(json.dumps(result))
""")
    assert got == {"r": 403, "w": 403, "a": 403, "/home/alice/": 403, "/home/": 403}


def test_everyone_reads_the_shared_sample_as_h5py_does(servers):
    for user in servers:
        got = run_json(user, """
import json, os
import h5py, h5pyd, hdf5plugin, numpy as np
local = h5py.File(os.path.expanduser("~/shared/data/sample.h5"), "r")
remote = h5pyd.File("/shared/sample.h5", "r")
names = []
local.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
same = {n: bool(np.array_equal(local[n][...], remote[n][...])) for n in names}
try:
    h5pyd.File("/shared/mine.h5", "w").close()
    write = "allowed"
except OSError as e:
    write = getattr(e, "errno", None) or str(e)
print(json.dumps({"same": same, "write": write}))
""")
        assert got["same"] and all(got["same"].values()), got
        assert got["write"] == 403


def test_a_wrong_password_is_refused(host):
    assert status(host, "/?domain=/home/alice/written.h5", user="alice")[0] == 401


def test_the_featured_hsds_notebook_runs_in_a_users_kernel(servers):
    """05-hsds, top to bottom, as a user who configured nothing: its cells
    assert what they show (same bytes as h5py, the write read back, two
    refusals), so running them is the test."""
    _, bob = servers
    got = run_json(bob, """
import json, os
os.chdir(os.path.expanduser("~/shared/featured"))
with open("05-hsds.ipynb") as f:
    cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
for cell in cells:
    exec("".join(cell["source"]))
print(json.dumps([len(cells), sorted(h5pyd.Folder(home))]))
""")
    assert got[0] >= 5 and "05-hsds.h5" in got[1]


def connect(names):
    """Python that opens each of the nodes' sockets and prints, for each,
    "open" or the error."""
    return f"""
import json, socket
result = {{}}
for name in {names!r}:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect("{SOCKETS}/" + name)
        result[name] = "open"
    except OSError as e:
        result[name] = type(e).__name__
    finally:
        s.close()
print(json.dumps(result))
"""


def test_nginx_reaches_the_service_node_and_no_data_node(host):
    """Its group opens the service node's socket (which asks for a password);
    a data node's, which asks for none, is the service's alone."""
    code = connect(["sn.sock", "dn_0.sock"])
    got = json.loads(host.check_output(f"runuser -u www-data -- python3 -c {shlex.quote(code)}"))
    assert got == {"sn.sock": "open", "dn_0.sock": "PermissionError"}


def test_no_user_reaches_the_nodes_sockets(servers):
    alice, _ = servers
    got = run_json(alice, connect(["sn.sock", "dn_0.sock", "dn_1.sock"]))
    assert "open" not in got.values(), got


def laptop_settings(user):
    """The user's h5pyd settings from the hub's credentials page."""
    r = user.session.get(f"{HTTPS}/hub/hsds-credentials", timeout=30)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    parser = configparser.ConfigParser()
    parser.read_string("[hs]\n" + r.text)
    return dict(parser["hs"])


def test_a_laptop_reaches_a_users_folder_over_tls(servers, ca_file):
    """hdfhub_hsds_public: the settings page gives each user the endpoint and
    their own password; HSDS answers them over TLS, and only them."""
    alice, bob = servers
    settings = laptop_settings(alice)
    assert settings["hs_endpoint"] == "https://hub.test/hsds" and settings["hs_username"] == "alice"
    assert laptop_settings(bob)["hs_password"] != settings["hs_password"]
    # The tests reach nginx on a published port, not the endpoint's 443.
    url = f"{HTTPS}/hsds/?domain=/home/alice"
    r = requests.get(url, auth=("alice", settings["hs_password"]), verify=ca_file, timeout=30)
    assert r.status_code == 200 and r.json()["owner"] == "alice"
    assert requests.get(url, auth=("alice", "wrong"), verify=ca_file, timeout=30).status_code == 401
    assert requests.get(f"{HTTPS}/hsds/about", verify=ca_file, timeout=30).json()["state"] == "READY"


def test_the_credentials_page_needs_a_login(ca_file):
    r = requests.get(f"{HTTPS}/hub/hsds-credentials", verify=ca_file, timeout=30, allow_redirects=False)
    assert r.status_code == 302 and "/hub/login" in r.headers["Location"]


def test_hsds_is_never_served_in_plain_http():
    r = requests.get(f"{HTTP}/hsds/about", timeout=30, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].startswith("https://")


def hsds_units(host):
    out = host.check_output("systemctl list-units --plain --no-legend --state=active 'hdfhub-hsds*'")
    return sorted(line.split()[0] for line in out.splitlines())


# A domain of alice's that must outlive HSDS's restarts (not another test's:
# pytest runs the tests that take `host` first).
WRITE_KEPT = """
import h5pyd, numpy as np
with h5pyd.File("/home/alice/kept.h5", "w") as f:
    f.create_dataset("x", data=np.arange(50_000.0), chunks=(5_000,), compression="gzip")
print("{}")
"""
READ_KEPT = """
import json, h5pyd
with h5pyd.File("/home/alice/kept.h5", "r") as f:
    print(json.dumps(float(f["x"][()].sum())))
"""


def test_fewer_data_nodes_then_off_then_on_keeps_the_data(servers, host):
    """The count lowered: the extra data node stops with the service node's
    restart. HSDS off: every unit stops and stays off. On again: the same
    domains. Runs only the hsds role (--tags hsds)."""
    alice, _ = servers
    run_json(alice, WRITE_KEPT)
    before = run_json(alice, READ_KEPT)
    assert before == sum(range(50_000))
    run = run_site({"hdfhub_hsds_data_nodes": 1}, tags=["hsds"])
    assert run.returncode == 0, run.stdout[-3000:]
    assert hsds_units(host) == ["hdfhub-hsds-dn@0.service", "hdfhub-hsds.service"]
    assert json.loads(status(host, "/about")[1])["node_count"] == 1
    assert run_json(alice, READ_KEPT) == before

    # Public needs HSDS on (preflight), so both go off.
    run = run_site({"hdfhub_hsds_enabled": False, "hdfhub_hsds_public": False}, tags=["hsds"])
    assert run.returncode == 0, run.stdout[-3000:]
    assert hsds_units(host) == []
    assert host.run("systemctl is-enabled hdfhub-hsds.service").stdout.strip() == "disabled"

    run = run_site({}, tags=["hsds"])
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(hsds_units(host)) == 3
    assert json.loads(status(host, "/about")[1])["node_count"] == 2
    assert run_json(alice, READ_KEPT) == before


def test_one_client_flooding_hsds_gets_429(ca_file):
    """nginx_tls_service_rate: one address's requests beyond the rate wait in
    a queue of nginx_tls_service_burst (200); more at once are refused before
    they reach HSDS. 400 clients of one address start together."""
    clients = 400
    barrier = threading.Barrier(clients)

    def get(_):
        barrier.wait()
        return requests.get(f"{HTTPS}/hsds/about", verify=ca_file, timeout=120).status_code

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(get, range(clients)))
    assert codes.count(429) > 0 and codes.count(200) >= 200, {c: codes.count(c) for c in set(codes)}
