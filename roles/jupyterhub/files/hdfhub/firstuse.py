"""firstuseauthenticator, without names claimed in advance, off the event loop.

FirstUseAuthenticator stores the password of any name at its first login,
before the hub asks whether that name may log in at all. A stranger's
password for `ws03` or `admin` then waits there for the workshop account or
admin of that name. This subclass changes three things:
- nothing is stored for, or even looked up about, a name the hub would
  refuse: one that fails the name pattern (a guest's prefix included), is
  blocked, or is not allowed;
- names whose password the deployment sets (`provisioned_users`: workshop
  accounts) never get one from a first login, so a converge that allows a
  new name before its password exists opens no window;
- bcrypt and the password file are used in a thread, so guesses do not stall
  the hub for everyone;
- after `failed_login_limit` wrong passwords in a row, a name is locked for
  `lockout_seconds` (each further wrong one locks it again), whatever path
  the guesses take: the login form, the token API, or 127.0.0.1:8081 from
  inside a server, which nginx's limit does not see.
"""
import asyncio
import dbm
import time

import bcrypt
from firstuseauthenticator import FirstUseAuthenticator as _FirstUse
from jupyterhub.utils import maybe_future
from traitlets import Integer, List, Unicode

# bcrypt reads 72 bytes of a password at most, and bcrypt 5 raises on more:
# such a password is refused (never a 500), here and in hdfhub.native.
MAX_PASSWORD_BYTES = 72


def password_matches(password, stored):
    data = password.encode("utf-8")
    return len(data) <= MAX_PASSWORD_BYTES and bcrypt.checkpw(data, stored)


class FirstUseAuthenticator(_FirstUse):
    provisioned_users = List(
        Unicode(), config=True,
        help="Names whose password the deployment sets; their first login sets none.")
    failed_login_limit = Integer(
        5, config=True, help="Wrong passwords in a row that lock a name.")
    lockout_seconds = Integer(
        60, config=True, help="How long a locked name refuses every password.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._failures = {}  # name: (wrong passwords in a row, time of the last)

    async def authenticate(self, handler, data):
        name = self.normalize_username(data["username"])
        if not self.validate_username(name) or name in self.blocked_users:
            return None
        if not await maybe_future(self.check_allowed(name, None)):
            return None
        failures, last = self._failures.get(name, (0, 0.0))
        if failures >= self.failed_login_limit and time.monotonic() - last < self.lockout_seconds:
            self.log.warning("Login as %s refused: locked after %d wrong passwords", name, failures)
            return None
        found = await asyncio.to_thread(self._check_password, handler, name, data["password"])
        if found is None:
            self._failures[name] = (failures + 1, time.monotonic())
        else:
            self._failures.pop(name, None)
        return found

    def _check_password(self, handler, name, password):
        """The name if `password` is its password, or if it has none yet and
        may set one (then it is stored); None otherwise."""
        with dbm.open(self.dbm_path, "c", 0o600) as db:
            stored = db.get(name.encode("utf-8"))
            if stored is not None:
                return name if password_matches(password, stored) else None
            if name in self.provisioned_users:
                self.log.warning("No password yet for provisioned user %s", name)
                return None
            if not self._validate_password(password):
                handler.custom_login_error = (
                    "Password too short! Please choose a password at least "
                    f"{self.min_password_length} characters long.")
                return None
            if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
                handler.custom_login_error = (
                    f"Password too long! Please choose one of at most {MAX_PASSWORD_BYTES} bytes.")
                return None
            db[name.encode("utf-8")] = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt())
        return name
