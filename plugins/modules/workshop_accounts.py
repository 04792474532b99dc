#!/usr/bin/python
"""Ansible module: give workshop accounts their passwords, once.

Run with the hub venv's Python (it needs bcrypt, and the same dbm module the
hub's FirstUseAuthenticator opens its password file with).
"""
import contextlib
import dbm
import json
import os
import secrets
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: workshop_accounts
short_description: Generate and install workshop account passwords for FirstUseAuthenticator
description:
  - Each name without a password in I(store) gets a new random one, saved
    there (a root-only JSON file), and its bcrypt hash goes into the hub's
    FirstUseAuthenticator password file. A hash already there for such a new
    name was not written by this module (a stranger's first login on a hub
    from before that was refused, or a leftover), so it is replaced, and the
    name is returned in C(replaced). Passwords of names already in I(store)
    never change, so re-running is a no-op.
  - With I(prune), names in I(store) but not in I(names) lose their password
    in both files instead; nothing else changes.
options:
  names: {description: Hub names of the accounts., type: list, elements: str, required: true}
  store: {description: JSON file of name to password, kept 0600., type: path, required: true}
  dbm_path: {description: FirstUseAuthenticator's dbm_path., type: path, required: true}
  prune: {description: Forget the passwords of names no longer in I(names)., type: bool, default: false}
  known:
    description: >-
      Passwords to give names new to I(store) instead of generating them: the
      controller's copy (the handout), so a host rebuilt for a restore gives
      the same passwords as the one it replaces.
    type: dict
    default: {}
"""

RETURN = r"""
accounts: {description: "[{name, password}] for each of I(names), in order.", type: list, returned: always}
user_chosen: {description: Names whose password the person has since changed on the hub., type: list, returned: always}
replaced: {description: New names whose hash, not written here, was replaced., type: list, returned: always}
unlisted: {description: Names in I(store) but not in I(names) (before a prune)., type: list, returned: always}
"""

# No 0/O, 1/l/I: people copy these from paper.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_password():
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(3))


def save(store, passwords):
    # mkstemp makes the file 0600.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(store), prefix=".workshop-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(passwords, f, indent=1, sort_keys=True)
    os.replace(tmp, store)


def prune(module, store, saved, unlisted):
    """Forget the unlisted names' passwords: hashes first, then the store, so
    that a run cut short finds them again."""
    if unlisted and not module.check_mode:
        with dbm.open(module.params["dbm_path"], "c", 0o600) as db:
            for name in unlisted:
                if db.get(name.encode("utf-8")) is not None:
                    del db[name.encode("utf-8")]
        save(store, {n: p for n, p in saved.items() if n not in unlisted})
    module.exit_json(changed=bool(unlisted), accounts=[], user_chosen=[], replaced=[],
                     unlisted=unlisted)


def main():
    module = AnsibleModule(
        argument_spec={"names": {"type": "list", "elements": "str", "required": True},
                       "store": {"type": "path", "required": True},
                       "dbm_path": {"type": "path", "required": True},
                       "prune": {"type": "bool", "default": False},
                       # Not no_log: Ansible would then mask these passwords in
                       # `accounts` too, which the handout is written from (the
                       # role's tasks are no_log instead).
                       "known": {"type": "dict", "default": {}}},
        supports_check_mode=True)
    import bcrypt  # noqa: PLC0415 (from the hub's venv)

    names, store = module.params["names"], module.params["store"]
    saved = {}
    if os.path.exists(store):
        with open(store, encoding="utf-8") as f:
            saved = json.load(f)
    unlisted = sorted(set(saved) - set(names))
    if module.params["prune"]:
        prune(module, store, saved, unlisted)
    new = [name for name in names if name not in saved]
    known = module.params["known"]
    passwords = {**saved, **{name: str(known.get(name) or new_password()) for name in new}}

    # Saved before the hub learns them: a password must never exist only as a hash.
    if new and not module.check_mode:
        save(store, passwords)

    path = module.params["dbm_path"]
    if dbm.whichdb(path) is None and module.check_mode:
        opened = contextlib.nullcontext({})  # no password file yet: nothing is set
    else:
        opened = dbm.open(path, "r" if module.check_mode else "c", 0o600)
    with opened as db:
        unset = [name for name in names if db.get(name.encode("utf-8")) is None]
        replaced = [name for name in new if name not in unset]
        user_chosen = [
            name for name in names if name not in unset + replaced and not bcrypt.checkpw(
                passwords[name].encode("utf-8"), db[name.encode("utf-8")])]
        if not module.check_mode:
            for name in unset + replaced:
                db[name.encode("utf-8")] = bcrypt.hashpw(passwords[name].encode("utf-8"),
                                                         bcrypt.gensalt())
    module.exit_json(changed=bool(new or unset),
                     accounts=[{"name": n, "password": passwords[n]} for n in names],
                     user_chosen=user_chosen, replaced=replaced, unlisted=unlisted)


if __name__ == "__main__":
    main()
