#!/usr/bin/python
"""Module hdfgroup.hdfhub.hub_servers: start hub users' servers through the
hub's REST API, a batch at a time, and wait until each is ready."""
import json
import time
import urllib.error
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

DOCUMENTATION = r"""
module: hub_servers
short_description: Start hub users' default servers and wait until they are ready
description:
  - >-
    Runs on the hub's host and talks to JupyterHub's REST API on loopback with
    the token in O(token_file), which never leaves the host.
  - >-
    Users whose server is already running are left alone. The others' servers
    are started O(batch) at a time; each batch is waited for until its servers
    are ready or have failed, at most O(timeout) seconds.
  - >-
    Nothing starts if a name is not a user of the hub: the names come back in
    RV(unknown) for the caller to report, as do servers that did not start in
    RV(not_started). Check mode reports what would start.
options:
  api_url:
    description: The hub's API, e.g. http://127.0.0.1:8000/hub/api.
    type: str
    required: true
  token_file:
    description: A file holding an API token with the C(read:users) and C(servers) scopes.
    type: path
    required: true
  users:
    description: Hub user names.
    type: list
    elements: str
    required: true
  batch:
    description: Servers started at once before waiting for them.
    type: int
    default: 10
  timeout:
    description: Seconds a batch may take to be ready.
    type: int
    default: 600
"""

EXAMPLES = r"""
- name: Start the workshop's servers
  hdfgroup.hdfhub.hub_servers:
    api_url: http://127.0.0.1:8000/hub/api
    token_file: /var/lib/hdfhub/ansible-api-token
    users: [ws01, ws02, ws03]
"""

RETURN = r"""
started:
  description: Users whose server this run started (or would start, in check mode).
  returned: always
  type: list
running:
  description: Users whose server was already running.
  returned: always
  type: list
unknown:
  description: Names that are not users of the hub (then nothing was started).
  returned: always
  type: list
not_started:
  description: Users whose server failed to start or was not ready in time.
  returned: always
  type: list
"""

# Seconds between two looks at a starting batch.
POLL_S = 1.0


class Hub:
    def __init__(self, api_url, token):
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

    def request(self, method, path, body=None):
        """(status, JSON body or None); HTTP errors are statuses too."""
        url = f"{self.api_url}/{path}"
        data = json.dumps(body).encode() if body is not None else None
        try:
            resp = open_url(url, method=method, headers=self.headers, data=data, timeout=60)
            status, text = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    def server(self, name):
        """The user's default server model, None if the user has none
        running or pending; raises KeyError if there is no such user."""
        status, model = self.request("GET", f"users/{urllib.parse.quote(name, safe='')}")
        if status == 404:
            raise KeyError(name)
        if status != 200:
            raise RuntimeError(f"GET users/{name}: HTTP {status}")
        return (model.get("servers") or {}).get("")

    def start(self, name):
        status, _ = self.request("POST", f"users/{urllib.parse.quote(name, safe='')}/server")
        # 400: it started meanwhile ("already running").
        if status not in (201, 202, 400):
            raise RuntimeError(f"POST users/{name}/server: HTTP {status}")


def main():
    module = AnsibleModule(
        argument_spec={
            "api_url": {"type": "str", "required": True},
            "token_file": {"type": "path", "required": True},
            "users": {"type": "list", "elements": "str", "required": True},
            "batch": {"type": "int", "default": 10},
            "timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    p = module.params
    with open(p["token_file"]) as stream:
        hub = Hub(p["api_url"], stream.read().strip())
    result = {"started": [], "running": [], "unknown": [], "not_started": []}
    to_start = []
    try:
        for name in dict.fromkeys(p["users"]):
            try:
                server = hub.server(name)
            except KeyError:
                result["unknown"].append(name)
                continue
            if server and server["ready"]:
                result["running"].append(name)
            else:
                to_start.append(name)
        if result["unknown"]:
            module.exit_json(changed=False, **result)
        if module.check_mode:
            module.exit_json(changed=bool(to_start), **{**result, "started": to_start})
        size = max(p["batch"], 1)
        for batch in (to_start[i:i + size] for i in range(0, len(to_start), size)):
            for name in batch:
                hub.start(name)
            deadline = time.monotonic() + p["timeout"]
            waiting = set(batch)
            while waiting and time.monotonic() < deadline:
                for name in sorted(waiting):
                    server = hub.server(name)
                    if server and server["ready"]:
                        result["started"].append(name)
                        waiting.discard(name)
                    elif not server:  # neither ready nor pending: it failed
                        result["not_started"].append(name)
                        waiting.discard(name)
                if waiting:
                    time.sleep(POLL_S)
            result["not_started"] += sorted(waiting)
    except (OSError, RuntimeError, urllib.error.URLError) as err:
        module.fail_json(msg=f"The hub's API at {p['api_url']} failed: {err}", **result)
    module.exit_json(changed=bool(result["started"]), **result)


if __name__ == "__main__":
    main()
