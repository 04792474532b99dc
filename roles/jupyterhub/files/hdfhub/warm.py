"""The warm room (playbooks/warm.yml): servers started before their owners
arrive are held, so that the idle culler does not stop them while they wait.

warm.yml writes the hold, a root-only JSON file {"users": [...], "until":
<epoch seconds>}, before it starts the servers. The idle culler's config
(idle_culler_config.py) sets `held(path)` as its cull_arbiter_hook, the
culler's own mechanism for custom rules: a listed user's default server is
kept until `until`; after that, and for everyone else, the usual rule applies
(idle for at least the timeout). A missing or unreadable hold holds nothing.
"""
import json
import time


def read_hold(path):
    """(users, until) from the hold file; (set(), 0) without one."""
    try:
        with open(path) as stream:
            hold = json.load(stream)
        return set(hold["users"]), float(hold["until"])
    except (OSError, ValueError, KeyError, TypeError):
        return set(), 0.0


def held(path, clock=time.time):
    """A cull arbiter for jupyterhub-idle-culler that spares held servers."""
    def arbiter(*, inactive, inactive_limit, server, **kwargs):
        user, _, name = server["full_name"].partition("/")
        users, until = read_hold(path)
        if not name and user in users and clock() < until:
            return False
        return inactive.total_seconds() >= inactive_limit
    return arbiter
