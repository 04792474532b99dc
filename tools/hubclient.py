"""A scripted hub user: logs in through the real login form, starts and stops
a server, and runs code in a kernel over the WebSocket, as a browser would.

One client for the verify tests (molecule/resources/tests/conftest.py) and the
benchmarks (benchmarks/spawn.py, load.py, tls.py). It needs only requests and
websocket-client, which the hdf5 environment has too, so tls.py can pipe this
file into the container's Python unchanged.
"""
import json
import random
import re
import ssl
import time
import uuid

import requests
import websocket


ZSTD_FILTER_ID = 32015  # registered with The HDF Group for Zstandard


class HubError(AssertionError):
    """The hub answered, but not as a working hub should. An AssertionError,
    so the verify tests report it as a failed check."""


class WaitTimeout(HubError):
    """A condition did not come true in time."""


class KernelDied(Exception):
    """The kernel was killed while running our code (e.g. out of memory)."""


def wait_for(predicate, timeout, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what}")


def message(msg_type, content, username="", channel="shell"):
    """A Jupyter protocol message for the kernel's WebSocket (JSON framing)."""
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type,
                       "username": username, "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": channel, "content": content}


class HubUser:
    """One person using the hub at `base_url` (https://... through nginx, or
    http://... straight to the proxy). `ca_file` verifies https; `token`
    skips the login form when the caller already has one."""

    def __init__(self, name, ca_file, base_url, password=None, token=None):
        self.name = name
        self.password = password
        self.base = base_url.rstrip("/")
        self.ca_file = ca_file
        self.token = token
        self.session = self.new_session()

    def new_session(self):
        session = requests.Session()
        session.verify = self.ca_file if self.base.startswith("https:") else True
        # Otherwise REQUESTS_CA_BUNDLE from the environment overrides `verify`.
        session.trust_env = False
        return session

    # --- Hub ---

    def submit(self, page, action, data, timeout=60):
        """Open a hub page and post one of its forms to `action`, with the
        XSRF cookie the page set, as a browser does."""
        self.session.get(f"{self.base}{page}", timeout=timeout).raise_for_status()
        return self.session.post(f"{self.base}{action}", timeout=timeout, allow_redirects=False,
                                 data={**data, "_xsrf": self.session.cookies.get("_xsrf")})

    def login(self, timeout=60):
        """Log in through the login form (firstuse: the first login sets the
        password) and make an API token for the rest."""
        r = self.submit("/hub/login", "/hub/login?next=",
                        {"username": self.name, "password": self.password}, timeout)
        if r.status_code != 302:
            # The form again, with the authenticator's reason, or an error page.
            shown = re.search(r'class="login_error[^"]*"[^>]*>(.*?)</', r.text, re.S)
            why = " ".join(shown.group(1).split()) if shown else r.text[:300]
            raise HubError(f"login of {self.name} failed: {r.status_code} {why}")
        return self.make_token(timeout)

    def sign_up(self, timeout=60):
        """Fill in the sign-up form (native authenticator). Returns the page's
        message to the person signing up."""
        r = self.submit("/hub/signup", "/hub/signup",
                        {"username": self.name, "signup_password": self.password,
                         "signup_password_confirmation": self.password}, timeout)
        r.raise_for_status()
        found = re.search(r'<div class="alert [^"]*"[^>]*>(.*?)</div>', r.text, re.S)
        if not found:
            raise HubError(f"sign-up of {self.name}: no message in {r.text[:300]}")
        return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())

    def try_as_guest(self, timeout=60):
        """Press the login page's "Try it" (hub guests): the hub names this
        user. Returns the hub's response, a redirect when a guest was made."""
        r = self.submit("/hub/login", "/hub/try", {}, timeout)
        if r.status_code == 302:
            self.name = None
            self.make_token(timeout)
        return r

    def make_token(self, timeout=60):
        """An API token for the logged-in session, for the rest."""
        # The XSRF token is bound to the new login session: read it from a page.
        home = self.session.get(f"{self.base}/hub/home", timeout=timeout)
        if self.name is None:  # a guest: the page says who the hub made
            self.name = re.search(r'user: "([^"]+)"', home.text).group(1)
        found = re.search(r'xsrf_token: "([^"]+)"', home.text)
        if not found:
            raise HubError(f"no XSRF token on /hub/home for {self.name}: {home.status_code}")
        r = self.session.post(f"{self.base}/hub/api/users/{self.name}/tokens", timeout=timeout,
                              headers={"X-XSRFToken": found.group(1),
                                       "Referer": f"{self.base}/hub/"},
                              json={"note": "hubclient", "expires_in": 3600})
        if r.status_code not in (200, 201):
            raise HubError(f"token for {self.name}: {r.status_code} {r.text[:300]}")
        self.token = r.json()["token"]
        return self

    def api(self, method, path, session=None, **kw):
        kw.setdefault("timeout", 60)
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"token {self.token}"
        return (session or self.session).request(method, f"{self.base}{path}",
                                                 headers=headers, **kw)

    def server(self):
        """The default server's model, or None when it is not running."""
        r = self.api("GET", f"/hub/api/users/{self.name}")
        r.raise_for_status()
        return r.json()["servers"].get("")

    def request_start(self):
        """Ask for the server; True if it was already up when the hub answered."""
        r = self.api("POST", f"/hub/api/users/{self.name}/server")
        if r.status_code not in (201, 202):
            raise HubError(f"start of {self.name}: {r.status_code} {r.text[:300]}")
        return r.status_code == 201

    def start(self, timeout=180):
        if self.server() is not None:  # left over from an earlier run
            self.stop()
        self.request_start()
        wait_for(lambda: (self.server() or {}).get("ready"), timeout,
                 what=f"server of {self.name}")

    def wait_progress(self, timeout):
        """Wait for the spawn as the spawn-pending page does: on the hub's
        progress event stream, which costs the hub far less than polling."""
        deadline = time.monotonic() + timeout
        r = self.api("GET", f"/hub/api/users/{self.name}/server/progress", stream=True,
                     headers={"Accept": "text/event-stream"}, timeout=min(timeout, 60))
        try:
            if r.status_code != 200:
                raise HubError(f"progress of {self.name}: {r.status_code} {r.text[:300]}")
            for line in r.iter_lines(decode_unicode=True):
                if time.monotonic() > deadline:
                    break
                if not line or not line.startswith("data:"):
                    continue  # keep-alive comments
                event = json.loads(line[5:])
                if event.get("failed"):
                    raise HubError(f"spawn of {self.name} failed: {event.get('message')}")
                if event.get("ready"):
                    return event
        finally:
            r.close()
        raise WaitTimeout(f"no ready event for {self.name} in {timeout}s")

    def status_ok(self, session=None, timeout=30):
        """Whether the user's server itself answers its API (no redirect to
        the hub's spawn-pending page, which would also end in a 200)."""
        r = self.api("GET", f"/user/{self.name}/api/status", session=session,
                     allow_redirects=False, timeout=timeout)
        return r.status_code == 200

    def request_stop(self):
        r = self.api("DELETE", f"/hub/api/users/{self.name}/server")
        if r.status_code not in (202, 204):
            raise HubError(f"stop of {self.name}: {r.status_code} {r.text[:300]}")

    def stop(self, timeout=60):
        self.request_stop()
        wait_for(lambda: self.server() is None, timeout, what=f"{self.name}'s server to stop")

    # --- Kernels ---

    def new_kernel(self, timeout=60):
        r = self.api("POST", f"/user/{self.name}/api/kernels", json={}, timeout=timeout)
        if r.status_code != 201:
            raise HubError(f"kernel for {self.name}: {r.status_code} {r.text[:300]}")
        return r.json()["id"]

    def delete_kernel(self, kernel):
        self.api("DELETE", f"/user/{self.name}/api/kernels/{kernel}")

    def connect(self, kernel, timeout=60):
        """The kernel's channels WebSocket."""
        url = (re.sub(r"^http", "ws", self.base)
               + f"/user/{self.name}/api/kernels/{kernel}/channels")
        sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": self.ca_file} \
            if url.startswith("wss:") else None
        return websocket.create_connection(
            url, timeout=timeout, header=[f"Authorization: token {self.token}"], sslopt=sslopt)

    def execute(self, ws, code, timeout=120):
        """Run code on an open kernel WebSocket; return its stdout."""
        msg = message("execute_request", {
            "code": code, "silent": False, "store_history": False,
            "user_expressions": {}, "allow_stdin": False}, self.name)
        ws.send(json.dumps(msg))
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(ws.recv())
            if reply["msg_type"] == "status" and \
                    reply["content"]["execution_state"] in ("dead", "restarting"):
                raise KernelDied(reply["content"]["execution_state"])
            if reply.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                continue
            kind = reply["msg_type"]
            if kind == "stream":
                out.append(reply["content"]["text"])
            elif kind == "error":
                raise HubError("kernel error: " + "\n".join(reply["content"]["traceback"]))
            elif kind == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(out)
        raise WaitTimeout(f"no reply from the kernel in {timeout}s")

    def kernel_info(self, ws):
        """One shell round trip that runs no user code: kernel_info_request
        until its reply."""
        msg = message("kernel_info_request", {}, self.name)
        ws.send(json.dumps(msg))
        while True:
            reply = json.loads(ws.recv())
            if reply["msg_type"] == "kernel_info_reply" and \
                    reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return reply["content"]

    def run_code(self, code, timeout=120):
        """Run code in a new kernel over a WebSocket; return stdout."""
        kernel = self.new_kernel()
        try:
            ws = self.connect(kernel, timeout)
            try:
                return self.execute(ws, code, timeout)
            finally:
                ws.close()
        finally:
            self.delete_kernel(kernel)

    def run_in_terminal(self, command, timeout=60):
        """Run a shell command in a new JupyterLab terminal; return what the
        terminal printed up to the end marker (the command's echo included)."""
        r = self.api("POST", f"/user/{self.name}/api/terminals", timeout=timeout)
        if r.status_code != 200:
            raise HubError(f"terminal for {self.name}: {r.status_code} {r.text[:300]}")
        term = r.json()["name"]
        url = (re.sub(r"^http", "ws", self.base)
               + f"/user/{self.name}/terminals/websocket/{term}")
        sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": self.ca_file} \
            if url.startswith("wss:") else None
        # Quoted in the command, so only its output, not its echo, matches.
        end = "END-" + uuid.uuid4().hex[:8]
        ws = websocket.create_connection(
            url, timeout=timeout, header=[f"Authorization: token {self.token}"], sslopt=sslopt)
        try:
            ws.send(json.dumps(["stdin", f"{command}; echo {end[:6]}''{end[6:]}\r"]))
            out, deadline = [], time.monotonic() + timeout
            while time.monotonic() < deadline:
                kind, *rest = json.loads(ws.recv())
                if kind == "stdout":
                    out.append(rest[0])
                    if end in "".join(out):
                        return "".join(out)
            raise WaitTimeout(f"no end marker from the terminal in {timeout}s")
        finally:
            ws.close()
            self.api("DELETE", f"/user/{self.name}/api/terminals/{term}")

    def check_hdf5(self, n=1000, timeout=120):
        """Write random integers to an HDF5 file with gzip and with Zstandard
        (an hdf5plugin filter), read them back in a fresh h5py handle, and
        raise HubError unless both round trips are exact and each dataset
        carries its filter."""
        values = [random.randint(-10**6, 10**6) for _ in range(n)]
        got = json.loads(self.run_code(f"""
import json, h5py, hdf5plugin, numpy as np
data = np.array({values!r}, dtype="int64").reshape(-1, 10)
with h5py.File("hdfhub-check.h5", "w") as f:
    f.create_dataset("gzip", data=data, compression="gzip", compression_opts=4)
    f.create_dataset("zstd", data=data, **hdf5plugin.Zstd(clevel=5))
with h5py.File("hdfhub-check.h5", "r") as f:
    print(json.dumps({{name: {{"values": f[name][()].ravel().tolist(),
                             "filters": list(f[name]._filters)}} for name in f}}))
""", timeout))
        for name, fid in (("gzip", "gzip"), ("zstd", str(ZSTD_FILTER_ID))):
            if got[name]["values"] != values:
                raise HubError(f"{name} dataset read back differs from what was written")
            if fid not in got[name]["filters"]:
                raise HubError(f"{name} dataset has filters {got[name]['filters']}, not {fid}")
