"""The warm room's hold (roles/jupyterhub/files/hdfhub/warm.py) and its
wiring into the idle culler. The molecule offline scenario runs the real
culler against it (test_warm_room.py)."""
import datetime
import json
import sys

import pytest
from traitlets.config import Config

from conftest import ROOT, load_module
from test_templates import HUB, load_hub_config, render

warm = load_module("roles/jupyterhub/files/hdfhub/warm.py", "hdfhub_warm")
HOUR = datetime.timedelta(hours=1)


def server(full_name):
    return {"full_name": full_name, "last_activity": None}


@pytest.fixture
def hold(tmp_path):
    path = tmp_path / "warm-room.json"
    path.write_text(json.dumps({"users": ["ws01", "ws02"], "until": 1000}))
    return str(path)


@pytest.mark.parametrize("now, full_name, inactive, culled", [
    (999, "ws01/", HOUR, False),       # held: idle for an hour, kept
    (1000, "ws01/", HOUR, True),       # the hold has ended
    (999, "alice/", HOUR, True),       # not in the room
    (999, "ws01/big", HOUR, True),     # a named server is not the warmed one
    (1000, "ws02/", 0.5 * HOUR, False),  # after the hold, the timeout as always
])
def test_held_servers_are_spared_until_the_hold_ends(hold, now, full_name, inactive, culled):
    arbiter = warm.held(hold, clock=lambda: now)
    assert arbiter(inactive=inactive, inactive_limit=3600, server=server(full_name)) is culled


@pytest.mark.parametrize("content", [None, "", "{", '{"users": ["ws01"]}', '{"users": 1, "until": 9}'])
def test_without_a_readable_hold_nothing_is_held(tmp_path, content):
    path = tmp_path / "warm-room.json"
    if content is not None:
        path.write_text(content)
    arbiter = warm.held(str(path), clock=lambda: 0)
    assert arbiter(inactive=HOUR, inactive_limit=3600, server=server("ws01/")) is True


def test_the_culler_config_installs_the_hold(hold):
    text = render("jupyterhub", "idle_culler_config.py.j2", jupyterhub_warm_hold_file=hold)
    config = Config()
    sys.path.insert(0, str(ROOT / "roles/jupyterhub/files"))
    try:
        exec(compile(text, "idle_culler_config.py", "exec"), {"get_config": lambda: config})
    finally:
        sys.path.pop(0)
    arbiter = config.IdleCuller.cull_arbiter_hook
    # The file's hold ends at 1000 s after the epoch: long over.
    assert arbiter(inactive=HOUR, inactive_limit=3600, server=server("ws01/")) is True
    assert arbiter(inactive=HOUR / 2, inactive_limit=3600, server=server("ws01/")) is False


def test_the_culler_reads_that_config_and_ansible_may_start_servers(tmp_path):
    token = tmp_path / "ansible-api-token"
    token.write_text("secret\n")
    c, _ = load_hub_config(render("jupyterhub", "jupyterhub_config.py.j2",
                                  jupyterhub_ansible_token_file=str(token), **HUB), tmp_path)
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    assert "--config=/etc/hdfhub/idle_culler_config.py" in culler["command"]
    assert culler["environment"] == {"PYTHONPATH": "/opt/hdfhub/lib"}
    roles = {r["name"]: r.get("scopes") for r in c.JupyterHub.load_roles}
    assert roles["ansible"] == ["admin:users", "servers"]
