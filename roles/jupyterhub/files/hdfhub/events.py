"""The hub's event log (hdfhub_usage_events): JupyterHub's events, one JSON
line each, in a root-only file that rolls over at midnight (UTC) and keeps
a set number of days, with people recorded as the site's privacy rule says:

- "names": hub names as they are;
- "pseudonyms": a keyed hash of the name (HMAC-SHA256 with a key made on
  the host), the same for the same person on every day, so that new and
  returning people can still be told apart;
- "counts": no one at all, only what happened and to what kind of user.

A guest's random name is never recorded: guests get a pseudonym in every
mode but "counts".

`c.EventLogger.handlers = [EventFile(...)]` in jupyterhub_config.py puts it
in place; jupyter_events hands it each event as the record's message.
"""
import hashlib
import hmac
import json
import logging.handlers
import os

from hdfhub import users

PRIVACY = ("names", "pseudonyms", "counts")
# JupyterHub's schema of server starts and stops, and its short name here.
SHORT_NAMES = {"https://schema.jupyter.org/jupyterhub/events/server-action": "server"}


class EventFile(logging.handlers.TimedRotatingFileHandler):
    """Writes each event as one line of JSON: its time, what happened
    ("server-start", "server-stop"), the kind of user ("user" or "guest"),
    and the person as `privacy` allows."""

    def __init__(self, path, days, privacy, key_file):
        if privacy not in PRIVACY:
            raise ValueError(f"privacy {privacy!r} is not one of {', '.join(PRIVACY)}")
        # Made 0600 whoever's umask: it names people.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        super().__init__(path, when="midnight", backupCount=days, utc=True, encoding="utf-8")
        self.privacy = privacy
        with open(key_file, "rb") as stream:
            self._key = stream.read().strip()

    def person(self, name):
        """(kind, what is recorded of `name`)."""
        guest = name.startswith(users.GUEST_PREFIX)
        kind = "guest" if guest else "user"
        if self.privacy == "counts":
            return kind, None
        if self.privacy == "names" and not guest:
            return kind, name
        digest = hmac.new(self._key, name.encode(), hashlib.sha256).hexdigest()[:16]
        return kind, f"{kind}:{digest}"

    def record(self, event):
        """The line written for one jupyter_events capsule."""
        schema = event["__schema__"]
        data = {k: v for k, v in event.items() if not k.startswith("__")}
        # jupyter_events writes UTC as "...+00:00Z"; one zone mark is enough.
        time = event["__timestamp__"].replace("+00:00Z", "Z")
        line = {"time": time, "event": SHORT_NAMES.get(schema, schema)}
        if "action" in data:
            line["event"] += f"-{data.pop('action')}"
        if "username" in data:
            line["kind"], who = self.person(data.pop("username"))
            if who is not None:
                line["user"] = who
        # A server's name is chosen by its owner; only counts leave it out.
        if self.privacy == "counts":
            data.pop("servername", None)
        line.update(data)
        return line

    def format(self, record):
        # jupyter_events sets a JSON formatter on every handler it is given;
        # this file's lines are the events as `record` makes them instead.
        return json.dumps(self.record(record.msg), sort_keys=True)
