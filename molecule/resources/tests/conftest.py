"""Shared fixtures for verifying a converged hub.

`host` (testinfra, podman backend) looks inside the container; HTTP(S) goes
from this machine through the ports the scenario publishes on loopback, so
every request crosses nginx and TLS as a browser's would.
"""
import json
import os
import re
import ssl
import time
import uuid

import pytest
import requests
import testinfra
import websocket

# Each scenario publishes nginx on its own loopback ports (molecule.yml).
HTTPS_PORT = int(os.environ.get("HDFHUB_TEST_HTTPS_PORT", "8443"))
HTTPS = f"https://localhost:{HTTPS_PORT}"
HTTP = f"http://127.0.0.1:{os.environ.get('HDFHUB_TEST_HTTP_PORT', '8080')}"
TLS_DIR = "/etc/hdfhub/tls"
# How the scenario's hub logs people in (its molecule.yml sets this): with
# firstuse, hub user NAME runs as jupyter-NAME, made by hdfhub; with pam, as
# the existing account NAME (made by the scenario's prepare playbook).
PAM = os.environ.get("HDFHUB_TEST_AUTH", "firstuse") == "pam"
firstuse_only = pytest.mark.skipif(PAM, reason="hdfhub makes no accounts with PAM")


def account(name):
    """The Unix account that hub user `name` runs as."""
    return name if PAM else f"jupyter-{name}"


@pytest.fixture(scope="session")
def guest(request):
    """The converged host, for session-scoped fixtures (testinfra's `host` is not)."""
    opts = request.config.option
    return testinfra.get_host(f"{opts.connection}://{opts.hosts}")


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory, guest):
    """The local CA certificate, copied out of the host."""
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(guest.file(f"{TLS_DIR}/ca.crt").content_string)
    return str(path)


def wait_for(predicate, timeout, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class KernelDied(Exception):
    """The kernel was killed while running our code (e.g. out of memory)."""


class HubUser:
    """One person using the hub through nginx, as a browser would."""

    def __init__(self, name, ca_file):
        self.name = name
        # firstuse: the first login sets it, fixed so that verify can re-run;
        # pam: molecule/resources/prepare_pam.yml gives the accounts this password.
        self.password = f"verify-{name}-password"
        self.session = requests.Session()
        self.session.verify = ca_file
        # Otherwise REQUESTS_CA_BUNDLE from the environment overrides `verify`.
        self.session.trust_env = False
        self.ca_file = ca_file
        self.token = None

    def login(self):
        """Log in through the login form (firstuse: the first login sets the password)."""
        page = self.session.get(f"{HTTPS}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = self.session.cookies.get("_xsrf")
        r = self.session.post(f"{HTTPS}/hub/login?next=", timeout=60, allow_redirects=False,
                              data={"username": self.name, "password": self.password,
                                    "_xsrf": xsrf})
        assert r.status_code == 302, f"login of {self.name} failed: {r.status_code} {r.text[:300]}"
        # The XSRF token is bound to the new login session: read it from a page.
        home = self.session.get(f"{HTTPS}/hub/home", timeout=30)
        xsrf = re.search(r'xsrf_token: "([^"]+)"', home.text).group(1)
        r = self.session.post(f"{HTTPS}/hub/api/users/{self.name}/tokens", timeout=30,
                              headers={"X-XSRFToken": xsrf, "Referer": f"{HTTPS}/hub/"},
                              json={"note": "verify", "expires_in": 3600})
        assert r.status_code in (200, 201), r.text
        self.token = r.json()["token"]
        return self

    def api(self, method, path, **kw):
        kw.setdefault("timeout", 60)
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"token {self.token}"
        return self.session.request(method, f"{HTTPS}{path}", headers=headers, **kw)

    def server(self):
        r = self.api("GET", f"/hub/api/users/{self.name}")
        r.raise_for_status()
        return r.json()["servers"].get("")

    def start(self, timeout=180):
        if self.server() is not None:  # left over from an earlier verify run
            self.stop()
        r = self.api("POST", f"/hub/api/users/{self.name}/server")
        assert r.status_code in (201, 202), r.text
        wait_for(lambda: (self.server() or {}).get("ready"), timeout,
                 what=f"server of {self.name}")

    def stop(self, timeout=60):
        r = self.api("DELETE", f"/hub/api/users/{self.name}/server")
        assert r.status_code in (202, 204), r.text
        wait_for(lambda: self.server() is None, timeout, what=f"{self.name}'s server to stop")

    def run_code(self, code, timeout=120):
        """Run code in a new kernel over a WebSocket through nginx; return stdout."""
        r = self.api("POST", f"/user/{self.name}/api/kernels", json={})
        assert r.status_code == 201, r.text
        kernel = r.json()["id"]
        try:
            return self._execute(kernel, code, timeout)
        finally:
            self.api("DELETE", f"/user/{self.name}/api/kernels/{kernel}")

    def _execute(self, kernel, code, timeout):
        url = HTTPS.replace("https", "wss") + f"/user/{self.name}/api/kernels/{kernel}/channels"
        ws = websocket.create_connection(
            url, timeout=timeout, header=[f"Authorization: token {self.token}"],
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": self.ca_file})
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False},
        }))
        out, deadline = [], time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg["msg_type"] == "status" and \
                        msg["content"]["execution_state"] in ("dead", "restarting"):
                    raise KernelDied(msg["content"]["execution_state"])
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    raise AssertionError("kernel error: " + "\n".join(msg["content"]["traceback"]))
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    return "".join(out)
        finally:
            ws.close()
        raise AssertionError(f"no reply from the kernel in {timeout}s")


@pytest.fixture(scope="session")
def alice(ca_file):
    return HubUser("alice", ca_file).login()


@pytest.fixture(scope="session")
def admin(ca_file):
    return HubUser("admin", ca_file).login()
