"""The hub's event log (roles/jupyterhub/files/hdfhub/events.py): each of
JupyterHub's events one JSON line, people as the privacy rule says, guests'
random names never, the file root's alone."""
import json
import logging
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "roles/jupyterhub/files"))
from hdfhub import events  # noqa: E402

SERVER_ACTION = "https://schema.jupyter.org/jupyterhub/events/server-action"


def capsule(action, username, servername=""):
    """An event as jupyter_events hands it to a handler."""
    return {"__timestamp__": "2026-12-07T10:00:00.000000+00:00Z", "__schema__": SERVER_ACTION,
            "__schema_version__": 1, "__metadata_version__": 1,
            "action": action, "username": username, "servername": servername}


def log(tmp_path, privacy, *emitted):
    key = tmp_path / "usage-key"
    key.write_text("0123456789abcdef" * 4 + "\n")
    path = tmp_path / "events.jsonl"
    handler = events.EventFile(str(path), 30, privacy, str(key))
    for event in emitted:
        handler.handle(logging.makeLogRecord({"msg": event, "levelno": logging.INFO}))
    handler.close()
    return path, [json.loads(line) for line in path.read_text().splitlines()]


def test_names_keep_hub_names_but_never_a_guests(tmp_path):
    path, lines = log(tmp_path, "names", capsule("start", "alice"),
                      capsule("start", "guest-3f9a2c7e"), capsule("stop", "alice"))
    assert lines[0] == {"time": "2026-12-07T10:00:00.000000Z", "event": "server-start",
                        "kind": "user", "user": "alice", "servername": ""}
    assert lines[1]["kind"] == "guest" and lines[1]["user"].startswith("guest:")
    assert lines[2]["event"] == "server-stop"
    assert "3f9a2c7e" not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_pseudonyms_tell_people_apart_without_their_names(tmp_path):
    path, lines = log(tmp_path, "pseudonyms", capsule("start", "alice"), capsule("start", "bob"),
                      capsule("start", "alice"))
    who = [line["user"] for line in lines]
    assert who[0] == who[2] != who[1]
    assert all(w.startswith("user:") and len(w) == len("user:") + 16 for w in who)
    assert "alice" not in path.read_text() and "bob" not in path.read_text()


def test_counts_keep_no_one(tmp_path):
    path, lines = log(tmp_path, "counts", capsule("start", "alice", "big"),
                      capsule("start", "guest-3f9a2c7e"))
    assert lines == [{"time": "2026-12-07T10:00:00.000000Z", "event": "server-start",
                      "kind": kind} for kind in ("user", "guest")]
    assert "alice" not in path.read_text() and "big" not in path.read_text()


def test_another_key_other_pseudonyms(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, first = log(tmp_path / "a", "pseudonyms", capsule("start", "alice"))
    key = tmp_path / "b/usage-key"
    key.write_text("another key\n")
    handler = events.EventFile(str(tmp_path / "b/events.jsonl"), 30, "pseudonyms", str(key))
    assert handler.person("alice") != ("user", first[0]["user"])
    handler.close()


def test_an_unknown_privacy_rule_is_refused(tmp_path):
    key = tmp_path / "usage-key"
    key.write_text("k\n")
    with pytest.raises(ValueError, match="'everything' is not one of names, pseudonyms, counts"):
        events.EventFile(str(tmp_path / "events.jsonl"), 30, "everything", str(key))


def test_the_hub_config_puts_the_event_log_in_place(tmp_path):
    from test_templates import HUB, load_hub_config, render
    key = tmp_path / "key"
    key.write_text("k\n")
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_usage_events="pseudonyms",
                  hdfhub_usage_events_days=7, jupyterhub_usage_dir=str(tmp_path), **HUB)
    c, _ = load_hub_config(text, tmp_path)
    handler, = c.EventLogger.handlers
    assert (handler.baseFilename, handler.backupCount, handler.privacy) == \
        (str(tmp_path / "events.jsonl"), 7, "pseudonyms")
    handler.close()
    for off in ("off", False):  # YAML reads an unquoted off as false
        c, _ = load_hub_config(render("jupyterhub", "jupyterhub_config.py.j2",
                                      hdfhub_usage_events=off, **HUB), tmp_path)
        assert "handlers" not in c.EventLogger
