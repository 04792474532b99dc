"""nativeauthenticator (self sign-up, admin approval) on JupyterHub 6.

nativeauthenticator 1.3.0, its newest release, predates JupyterHub 6, and its
login form fails there with a 500 on every POST:
- its LoginHandler.post times the login with the handler's `statsd`, which
  JupyterHub 6 removed;
- JupyterHub renders an error on the login form through `_render(sync=True,
  ...)`, which its `_render` does not accept.

NativeAuthenticator here is the same authenticator with a LoginHandler that
fixes both. Drop that handler when a release of nativeauthenticator runs on
JupyterHub 6 (the people scenario's test_native.py shows it).

It also:
- checks passwords with bcrypt in a thread: in the event loop, each guess
  would stall the hub for everyone (the lockout after
  `allowed_failed_logins` wrong passwords is nativeauthenticator's own);
- keeps the names whose password the deployment sets (`provisioned_users`:
  the admins) from sign-up, so no one claims an admin's name by signing up
  first. Such a name's first login takes its hash from `dbm_path`, where
  the converge put it (roles/workshop_accounts), into native's own table;
  from then on it is an ordinary, approved native user.
"""
import asyncio
import dbm

import bcrypt
from nativeauthenticator import NativeAuthenticator as _Native
from nativeauthenticator import handlers
from nativeauthenticator.orm import UserInfo
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import List, Unicode


class _NoTimer:
    """What post() asks of statsd: timer(name).start(), then stop(send=...)."""

    def timer(self, name):
        return self

    def start(self):
        return self

    def stop(self, send=True):
        pass


class LoginHandler(handlers.LoginHandler):
    statsd = _NoTimer()

    def _render(self, login_error=None, username=None, sync=False, **_):
        return self.render_template(
            "native-login.html",
            sync=sync,
            next=url_escape(self.get_argument("next", default="")),
            username=username,
            login_error=login_error,
            custom_html=self.authenticator.custom_html,
            login_url=self.settings["login_url"],
            enable_signup=self.authenticator.enable_signup,
            two_factor_auth=self.authenticator.allow_2fa,
            authenticator_login_url=url_concat(
                self.authenticator.login_url(self.hub.base_url),
                {"next": self.get_argument("next", "")},
            ),
        )


def provisioned_hash(dbm_path, name):
    """The deployment's bcrypt hash for `name`, or None."""
    try:
        with dbm.open(dbm_path, "r") as db:
            return db.get(name.encode("utf-8"))
    except dbm.error:  # no password file yet
        return None


class NativeAuthenticator(_Native):
    provisioned_users = List(
        Unicode(), config=True,
        help="Names whose password the deployment sets; sign-up refuses them.")
    dbm_path = Unicode(
        config=True, help="The deployment's password hashes (roles/workshop_accounts).")

    def user_exists(self, username):
        # Taken by the deployment: sign-up says the name is in use.
        return (self.normalize_username(username) in self.provisioned_users
                or super().user_exists(username))

    def get_handlers(self, app):
        return [(path, LoginHandler if handler is handlers.LoginHandler else handler)
                for path, handler in super().get_handlers(app)]

    async def authenticate(self, handler, data):
        """nativeauthenticator's own check, with bcrypt off the event loop."""
        name = self.normalize_username(data["username"])
        user = self.get_user(name)
        if user is None and name in self.provisioned_users:
            stored = await asyncio.to_thread(provisioned_hash, self.dbm_path, name)
            if stored is not None:
                user = UserInfo(username=name, password=stored, is_authorized=True)
                self.db.add(user)
                self.db.commit()
        if user is None or (self.allowed_failed_logins and self.is_blocked(name)):
            return None
        valid = await asyncio.to_thread(
            bcrypt.checkpw, data["password"].encode(), user.password)
        if valid and user.is_authorized and (
                not user.has_2fa or user.is_valid_token(data.get("2fa"))):
            self.successful_login(name)
            return name
        self.add_login_attempt(name)
        return None
