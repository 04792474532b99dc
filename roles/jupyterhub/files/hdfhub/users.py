"""The hdfhub user model: hub user names to Unix accounts, TLJH style.

One module serves two callers: the Ansible filter `unix_username` (inventory
pre-created accounts) and the hub's spawner (accounts made on first login), so
both always agree on the name of an account.
"""
import grp
import hashlib
import pwd
import re
import subprocess

PREFIX = "jupyter-"
USERS_GROUP = "jupyterhub-users"
ADMINS_GROUP = "jupyterhub-admins"
# Guests' primary group: the firewall lets its members use loopback only.
GUESTS_GROUP = "jupyterhub-guests"
# Longest name useradd accepts on Debian and Ubuntu.
MAX_UNIX_NAME = 32
# Hub names the inventory and the login form accept. Anything outside this
# (upper case, spaces, '/', ':') cannot safely become part of a Unix name.
HUB_NAME_PATTERN = r"^[a-z0-9_][a-z0-9_.@-]*$"
# Guests (hdfhub.guests) are named GUEST_PREFIX + random hex by the hub
# itself; no one logs in, and no inventory user is called, by such a name.
GUEST_PREFIX = "guest-"
# Nor by root's: with pam, that would be a server running as root.
LOGIN_NAME_PATTERN = rf"^(?!{GUEST_PREFIX})(?!root$)[a-z0-9_][a-z0-9_.@-]*$"
_SAFE = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
_HASH_LEN = 6


def unix_username(name: str) -> str:
    """Return the Unix account for hub user `name`.

    Names that are already safe and short enough map to `jupyter-<name>`.
    Others are cleaned and cut, and a short hash of the original name is
    appended, so two different hub names never share an account.
    """
    if not isinstance(name, str) or not re.match(HUB_NAME_PATTERN, name):
        raise ValueError(
            f"{name!r} is not a valid hub user name: use lower-case letters, "
            f"digits and '_', '.', '@', '-' (pattern {HUB_NAME_PATTERN})")
    room = MAX_UNIX_NAME - len(PREFIX)
    if _SAFE.match(name) and len(name) <= room:
        return PREFIX + name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    cleaned = re.sub(r"[^a-z0-9_-]", "-", name)[: room - _HASH_LEN - 1]
    return f"{PREFIX}{cleaned}-{digest}"


def ensure_user(name: str, admin: bool, guest: bool = False) -> str:
    """Create (or fix the groups of) the Unix account of hub user `name`.
    A guest's account is made with GUESTS_GROUP as its primary group.

    Home mode comes from HOME_MODE in /etc/login.defs (set by the role).
    """
    account = unix_username(name)
    groups = [USERS_GROUP] + ([ADMINS_GROUP] if admin else [])
    try:
        pwd.getpwnam(account)
    except KeyError:
        primary = ["--gid", GUESTS_GROUP] if guest else []
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", *primary,
                        "--groups", ",".join(groups), account], check=True)
        return account
    members = {g: account in grp.getgrnam(g).gr_mem for g in (USERS_GROUP, ADMINS_GROUP)}
    for group in groups:
        if not members[group]:
            subprocess.run(["gpasswd", "--add", account, group], check=True,
                           stdout=subprocess.DEVNULL)
    if not admin and members[ADMINS_GROUP]:
        subprocess.run(["gpasswd", "--delete", account, ADMINS_GROUP], check=True,
                       stdout=subprocess.DEVNULL)
    return account


def remove_guest(name: str) -> None:
    """Delete the Unix account of guest `name` with its home; no other kind."""
    if not name.startswith(GUEST_PREFIX):
        raise ValueError(f"{name!r} is not a guest")
    account = unix_username(name)
    try:
        pwd.getpwnam(account)
    except KeyError:
        return
    subprocess.run(["userdel", "--remove", account], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
