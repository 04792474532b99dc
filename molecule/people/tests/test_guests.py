"""Guests ("Try it", hdfhub_guests_enabled): a visitor without an account
gets a temporary user of its own, with tighter limits, up to a cap; logging
out or going idle deletes the guest with its account and files. Staff (the
LDAP users here) stay.

The scenario sets the caps to GUEST_MAX in all and GUEST_PER_CLIENT per
client address, the idle timeout to GUEST_TIMEOUT seconds and each writable
tmpfs to GUEST_DISK_MB (molecule.yml). The tests run in file order: the
browser guest logs out, the others are left to the guest culler, and the
last test re-converges with a short maximum age.
"""
import datetime
import json
import re
import shlex
import time

import pytest

from browserfixtures import (browser, needs_browser, page,  # noqa: F401
                             run_featured_h5py_notebook, sample_day1_mean)
from hubfixtures import (HTTPS, OUTSIDER, THREADS, HubUser, account,  # noqa: F401
                         authorize_key, peer, run_site, ssh_as, ssh_key, unit_props, wait_for)

GUEST_MAX = 4
GUEST_PER_CLIENT = 3
GUEST_TIMEOUT = 60
GUEST_DISK_MB = 64
# The culler looks every timeout/2 seconds; a server's last activity can lag
# by a few more.
CULL_WAIT = GUEST_TIMEOUT * 3 + 60


def guests(admin):
    r = admin.api("GET", "/hub/api/groups/hdfhub-guests")
    r.raise_for_status()
    return r.json()["users"]


def in_unit(host, name, command):
    """Run `command` in the mount namespace of guest `name`'s server, where
    its tmpfs home is."""
    unix = account(name)
    return host.run(f"nsenter -t $(systemctl show -p MainPID --value {unix}) -m {command}")


# "Try it" from another client address: a Python inside the container that
# connects to nginx from that loopback address (argv[1]) and prints the status.
TRY_FROM = """
import sys, requests, urllib3
from requests.adapters import HTTPAdapter
urllib3.disable_warnings()
class From(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (sys.argv[1], 0)
        super().init_poolmanager(*args, **kwargs)
s = requests.Session()
s.trust_env, s.verify = False, False
s.headers["Host"] = "localhost"
s.mount("https://", From())
s.get("https://127.0.0.1/hub/login", timeout=30).raise_for_status()
r = s.post("https://127.0.0.1/hub/try", data={"_xsrf": s.cookies.get("_xsrf")},
           allow_redirects=False, timeout=60)
print(r.status_code)
"""


def try_from(host, address):
    out = host.check_output(f"/opt/hdfhub/envs/hdf5/bin/python - {address} <<'EOF'\n{TRY_FROM}\nEOF")
    return int(out.strip().splitlines()[-1])


def gone(host, name):
    """No hub user, Unix account, home or unit is left of guest `name`."""
    unix = account(name)
    return (not host.user(unix).exists and not host.file(f"/home/{unix}").exists
            and host.run(f"systemctl is-active {unix}").stdout.strip() != "active")


@needs_browser
def test_visitor_tries_a_featured_notebook_and_logs_out(page, admin, host):
    """Try it on the login page: JupyterLab opens on the featured notebooks,
    the h5py one runs, and logging out deletes the guest at once."""
    mean = sample_day1_mean(host)
    page.goto(f"{HTTPS}/hub/login")
    page.click("#try_submit")
    page.wait_for_selector("#jp-main-dock-panel")
    name = re.search(r"/user/(guest-[0-9a-f]+)/", page.url).group(1)
    # The guest's JupyterLab opens on the featured notebooks.
    page.dblclick(".jp-DirListing-item:has-text('01-h5py-basics.ipynb')")
    run_featured_h5py_notebook(page, mean)
    # In the guest's tmpfs home, which the host's disk never sees.
    assert in_unit(host, name, f"test -e /home/{account(name)}/my-first.h5").rc == 0
    assert not host.file(f"/home/{account(name)}/my-first.h5").exists
    page.goto(f"{HTTPS}/hub/logout")
    assert name not in guests(admin)
    wait_for(lambda: gone(host, name), 60, what=f"{name} removed from the host")
    assert admin.api("GET", f"/hub/api/users/{name}").status_code == 404


@pytest.fixture(scope="module")
def two_guests(ca_file):
    found = []
    for _ in range(2):
        guest = HubUser(None, ca_file)
        r = guest.try_as_guest()
        assert r.status_code == 302, r.text[:300]
        guest.start()
        found.append(guest)
    return found


def test_guests_get_separate_temporary_users(two_guests, host):
    one, two = two_guests
    assert one.name != two.name
    for guest in two_guests:
        user = host.user(account(guest.name))
        assert user.exists and host.file(user.home).mode == 0o700
        put = guest.api("PUT", f"/user/{guest.name}/api/contents/mine.txt",
                        json={"type": "file", "format": "text", "content": guest.name})
        assert put.status_code in (200, 201), put.text
    # Other homes do not even exist for a guest's server.
    assert one.run_code(f"import os; print(os.path.exists('/home/{account(two.name)}'))"
                        ).strip() == "False"


def hsds_as_admin(host, query):
    """Status of a GET to HSDS's service node as its administrator, from the
    host (the password derives from the root-only salt, as the hub's do)."""
    code = f"""
import base64, hashlib, http.client, socket
salt = open("/etc/hdfhub/hsds/salt.env").read().strip().split("=", 1)[1]
name = "HdfhubAdmin"
secret = hashlib.sha512((name + salt).encode()).hexdigest()[:32]
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/run/hdfhub-hsds/sn.sock")
c = Conn("localhost")
c.request("GET", "{query}", headers={{"Authorization": "Basic " + base64.b64encode(
    f"{{name}}:{{secret}}".encode()).decode()}})
print(c.getresponse().status)
"""
    return int(host.check_output(f"python3 -c {shlex.quote(code)}"))


def hsds_as(host, name, query):
    """Status of a GET to HSDS through nginx on loopback, with name's own
    credentials (derived from the salt, as the hub derives them)."""
    code = f"""
import base64, hashlib, urllib.error, urllib.request
salt = open("/etc/hdfhub/hsds/salt.env").read().strip().split("=", 1)[1]
secret = hashlib.sha512(("{name}" + salt).encode()).hexdigest()[:32]
request = urllib.request.Request("http://127.0.0.1:5101{query}")
request.add_header("Authorization", "Basic " + base64.b64encode(f"{name}:{{secret}}".encode()).decode())
try:
    print(urllib.request.urlopen(request, timeout=30).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""
    return int(host.check_output(f"python3 -c {shlex.quote(code)}"))


def test_guests_read_the_shared_hsds_data_and_own_a_folder(two_guests, host):
    """HSDS is on in this scenario: a guest's kernel has credentials, reads
    /shared/, writes only in its own folder, and its folder exists for it."""
    one, two = two_guests
    got = one.run_code(f"""
import json, h5pyd
result = {{"shared": sorted(h5pyd.File("/shared/sample.h5", "r"))}}
with h5pyd.File("/home/{one.name}/mine.h5", "w") as f:
    f["x"] = [1, 2, 3]
for path in ["/home/{two.name}/theirs.h5", "/shared/mine.h5"]:
    try:
        h5pyd.File(path, "w").close()
        result[path] = "allowed"
    except OSError as e:
        result[path] = e.errno
print(json.dumps(result))
""").strip().splitlines()[-1]
    result = json.loads(got)
    assert result["shared"], result
    assert result[f"/home/{two.name}/theirs.h5"] == 403 and result["/shared/mine.h5"] == 403
    assert hsds_as_admin(host, f"/?domain=/home/{one.name}/mine.h5") == 200
    # HSDS is public here too: the credentials page knows the guest, and its
    # password is the one its kernel has.
    page = one.session.get(f"{HTTPS}/hub/hsds-credentials", timeout=30).text
    kernel = one.run_code("import os; print(os.environ['HS_PASSWORD'])").strip().splitlines()[-1]
    assert f"hs_username = {one.name}\n" in page and f"hs_password = {kernel}\n" in page


def test_guests_get_their_own_limits(two_guests, host):
    """molecule.yml gives guests 384M and a quarter of a core; staff have 512M
    and half a core (the molecule defaults)."""
    props = unit_props(host, account(two_guests[0].name), "MemoryMax", "CPUQuotaPerSecUSec")
    assert props == {"MemoryMax": str(384 * 2**20), "CPUQuotaPerSecUSec": "250ms"}


def test_guests_cannot_ssh_in(two_guests, host, ssh_key):
    """A guest's key in its own authorized_keys opens nothing; the same key
    lets an account outside the hub in, so sshd is up."""
    user = account(two_guests[0].name)
    authorize_key(host, user)
    r = ssh_as(host, user)
    assert r.rc != 0 and user not in r.stdout
    assert ssh_as(host, OUTSIDER).stdout.strip() == OUTSIDER


# POSIX shared memory (16 MB: the container's /dev/shm holds 64) and a
# System V segment, left behind.
IPC = """
import subprocess
with open("/dev/shm/hdfhub-probe", "wb") as f:
    f.write(bytes(16 << 20))
print(subprocess.run(["ipcmk", "-M", "4096"], capture_output=True, text=True,
                     check=True).stdout.split()[-1])
"""
GUEST_TASKS_MAX = 128  # HdfhubSpawner.guest_tasks_max


# Fill each writable place until it is full; keep 1 MB in the home.
DISK = """
import errno, os
home = os.path.expanduser("~")
with open(os.path.join(home, "kept"), "wb") as f:
    f.write(bytes(1 << 20))
for where in (home, "/tmp", "/var/tmp"):
    path = os.path.join(where, "fill")
    try:
        with open(path, "wb") as f:
            for _ in range(4 * {mb}):
                f.write(bytes(1 << 20))
        print(where, "full-size")
    except OSError as e:
        print(where, errno.errorcode[e.errno], os.path.getsize(path) >> 20)
    os.unlink(path)
"""


# An address off the host: a listener of the `peer` fixture.
URLOPEN = """
import urllib.request
try:
    print(urllib.request.urlopen("http://{address}:{port}/", timeout=5).status)
except OSError as e:
    print(type(e).__name__)
"""


def test_a_guest_is_confined(ca_file, host, peer):
    """A guest reaches loopback only (staff reach the peer), stops at its
    TasksMax, can write no more than GUEST_DISK_MB to each writable place,
    none of it on the host's disk, and leaves no shared memory or IPC behind
    when it logs out."""
    peer.listen(8765)
    probe = URLOPEN.format(address=peer.peer_address, port=8765)
    linus = HubUser("linus", ca_file).login()
    linus.start()
    try:
        wait_for(lambda: linus.run_code(probe).strip() == "200", 30, what="the peer's listener")
    finally:
        linus.stop()
    guest = HubUser(None, ca_file)
    assert guest.try_as_guest().status_code == 302
    guest.start()
    unix = account(guest.name)
    assert guest.run_code(probe).strip() != "200"
    assert unit_props(host, unix, "TasksMax", "PrivateIPC", "RemoveIPC") == {
        "TasksMax": str(GUEST_TASKS_MAX), "PrivateIPC": "yes", "RemoveIPC": "yes"}
    started = int(guest.run_code(THREADS.format(limit=1000)).strip())
    assert 10 < started < GUEST_TASKS_MAX
    home = f"/home/{unix}"
    filled = dict(line.split(" ", 1) for line in guest.run_code(
        DISK.format(mb=GUEST_DISK_MB)).strip().splitlines())
    for where in (home, "/tmp", "/var/tmp"):
        error, written_mb = filled[where].split()
        assert error == "ENOSPC" and GUEST_DISK_MB - 4 <= int(written_mb) <= GUEST_DISK_MB
    assert in_unit(host, guest.name, f"test -s {home}/kept").rc == 0
    assert not host.file(f"{home}/kept").exists
    segment = guest.run_code(IPC).strip()
    guest.session.get(f"{HTTPS}/hub/logout", timeout=60).raise_for_status()
    wait_for(lambda: gone(host, guest.name), 60, what=f"{guest.name} removed from the host")
    assert not host.file("/dev/shm/hdfhub-probe").exists
    # (ipcs -i exits 0 even for an id it does not find.)
    segments = [line.split()[1] for line in host.check_output("ipcs -m").splitlines()
                if line.startswith("0x")]
    assert segment not in segments


def test_guest_caps_hold(two_guests, admin, ca_file, host):
    """This client gets guests until it has GUEST_PER_CLIENT; another
    address still gets one, until GUEST_MAX exist in all. Each refusal says
    why and makes no one."""
    for _ in range(GUEST_PER_CLIENT + 1):
        before = guests(admin)
        r = HubUser(None, ca_file).try_as_guest()
        if r.status_code != 302:
            break
    assert r.status_code == 429 and "already in use from your address" in r.text
    assert len(before) == GUEST_PER_CLIENT and guests(admin) == before
    assert try_from(host, "127.0.0.2") == 302
    full = guests(admin)
    assert len(full) == GUEST_MAX == GUEST_PER_CLIENT + 1
    assert try_from(host, "127.0.0.3") == 503
    assert guests(admin) == full


def test_idle_guests_are_deleted_but_staff_stay(two_guests, admin, ca_file, host):
    linus = HubUser("linus", ca_file).login()
    linus.start()
    try:
        names = guests(admin)
        assert {g.name for g in two_guests} <= set(names)
        assert {hsds_as(host, name, "/?domain=/shared/sample.h5") for name in names} == {200}
        wait_for(lambda: not guests(admin), CULL_WAIT, interval=5, what="guests culled")
        for name in names:
            wait_for(lambda: gone(host, name), 60, what=f"{name} removed from the host")
            # Its HSDS folder goes with it (410: HSDS's word for deleted).
            wait_for(lambda: hsds_as_admin(host, f"/?domain=/home/{name}") in (404, 410), 30,
                     what=f"{name}'s HSDS folder removed")
            # Its credentials no longer open even what everyone reads.
            assert hsds_as(host, name, "/?domain=/shared/sample.h5") == 401
        assert (linus.server() or {}).get("ready")
        assert host.user(account("linus")).exists
    finally:
        linus.stop()


MAX_AGE = 90


@pytest.fixture
def short_max_age():
    # Only the hub reads it (the guests' culler).
    run = run_site({"hdfhub_guests_max_age": MAX_AGE}, tags=["jupyterhub"])
    assert run.returncode == 0, run.stdout[-3000:]


def test_a_guest_at_its_maximum_age_is_deleted_while_active(short_max_age, ca_file, host):
    """With hdfhub_guests_max_age MAX_AGE, a guest whose server reports
    activity every few seconds is still deleted, soon after that age."""
    guest = HubUser(None, ca_file)
    assert guest.try_as_guest().status_code == 302
    made = active = time.monotonic()
    guest.start()
    name = guest.name
    while not gone(host, name):
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        r = guest.api("POST", f"/hub/api/users/{name}/activity",
                      json={"last_activity": now, "servers": {"": {"last_activity": now}}})
        if r.status_code == 200:
            active = time.monotonic()
        assert time.monotonic() - made < MAX_AGE + 120, f"{name} outlived its maximum age"
        time.sleep(5)
    age = time.monotonic() - made
    assert age >= MAX_AGE - 5
    assert time.monotonic() - active < 30, "the guest was not active until it was deleted"
    log = host.check_output("journalctl -u jupyterhub --no-pager --since -10min")
    assert f"Culling user {name} (age:" in log
