"""The hub's event log (hdfhub_usage_events), in the scenarios that keep one
(HDFHUB_TEST_USAGE_EVENTS: the privacy rule). After test_load_smoke.py
(pytest runs the modules in name order): its five users' starts and stops
are there, as the rule says, and no user can read the log."""
import json
import os

import pytest
from test_hardening import run_json
from test_load_smoke import NAMES

PRIVACY = os.environ.get("HDFHUB_TEST_USAGE_EVENTS")
pytestmark = pytest.mark.skipif(not PRIVACY, reason="no event log in this scenario")
LOG = "/var/lib/hdfhub/usage/events.jsonl"


def events(host):
    return [json.loads(line) for line in host.file(LOG).content_string.splitlines()]


def test_the_log_is_roots_alone(host):
    log, folder = host.file(LOG), host.file(os.path.dirname(LOG))
    assert (log.user, log.mode) == ("root", 0o600)
    assert (folder.user, folder.mode) == ("root", 0o700)


def test_the_load_tests_starts_and_stops_are_recorded_as_the_rule_says(host):
    lines = events(host)
    starts = [e for e in lines if e["event"] == "server-start" and e["kind"] == "user"]
    stops = [e for e in lines if e["event"] == "server-stop" and e["kind"] == "user"]
    assert len(starts) >= len(NAMES) and len(stops) >= len(NAMES), lines
    text = host.file(LOG).content_string
    if PRIVACY == "names":
        assert set(NAMES) <= {e["user"] for e in starts}
    else:
        assert not any(name in text for name in NAMES)
    if PRIVACY == "pseudonyms":
        # One pseudonym per person, the same at start and stop.
        assert len({e["user"] for e in starts}) >= len(NAMES)
        assert {e["user"] for e in stops} <= {e["user"] for e in starts}
    if PRIVACY == "counts":
        assert not any("user" in e for e in lines)


def test_a_user_cannot_read_the_log(alice_server):
    got = run_json(alice_server, f"""
import json
try:
    open({LOG!r}).read()
    print(json.dumps("read"))
except OSError as e:
    print(json.dumps(type(e).__name__))
""")
    assert got == "PermissionError"
