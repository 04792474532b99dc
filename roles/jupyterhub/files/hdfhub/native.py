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
- runs bcrypt in a thread, for logins and sign-ups: in the event loop, each
  guess or sign-up would stall the hub for everyone (the lockout after
  `allowed_failed_logins` wrong passwords is nativeauthenticator's own);
- keeps the names whose password the deployment sets (`provisioned_users`:
  the admins and the inventory's users) from sign-up, so no one claims one
  by signing up first. Such a name's first login takes its hash from
  `dbm_path`, where the converge put it (roles/workshop_accounts), into
  native's own table; from then on it is an ordinary, approved native user.
"""
import asyncio
import contextvars
import dbm

import bcrypt
from nativeauthenticator import NativeAuthenticator as _Native
from nativeauthenticator import handlers
from nativeauthenticator.orm import UserInfo
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import List, Unicode

from hdfhub.firstuse import MAX_PASSWORD_BYTES, password_matches


class _NoTimer:
    """What post() asks of statsd: timer(name).start(), then stop(send=...)."""

    def timer(self, name):
        return self

    def start(self):
        return self

    def stop(self, send=True):
        pass


# The hash of the password the sign-up being handled carries, made in a
# thread by SignUpHandler.post for create_user, which runs in its context.
_signup_hash = contextvars.ContextVar("signup_hash", default=None)


class SignUpHandler(handlers.SignUpHandler):
    async def post(self):
        data = self.get_body_argument("signup_password", "", strip=False).encode()
        # Too long for bcrypt: b"", which create_user refuses.
        token = _signup_hash.set(
            b"" if len(data) > MAX_PASSWORD_BYTES or not self.authenticator.enable_signup
            else await asyncio.to_thread(bcrypt.hashpw, data, bcrypt.gensalt()))
        try:
            await super().post()
        finally:
            _signup_hash.reset(token)


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
        ours = {handlers.LoginHandler: LoginHandler, handlers.SignUpHandler: SignUpHandler}
        return [(path, ours.get(handler, handler)) for path, handler in super().get_handlers(app)]

    def create_user(self, username, password, **kwargs):
        """nativeauthenticator's, with the hash SignUpHandler made, if any,
        instead of one made here, in the event loop. Its checks, in its order;
        it sends no approval mail (allow_self_approval_for is not offered)."""
        hashed = _signup_hash.get()
        if hashed is None:
            return super().create_user(username, password, **kwargs)
        if not hashed:
            return None
        username = self.normalize_username(username)
        if (self.user_exists(username) or not self.validate_username(username)
                or not self.is_password_strong(password) or not self.enable_signup):
            return None
        authorized = self.open_signup or username in self.get_authed_users()
        try:
            user = UserInfo(username=username, password=hashed, is_authorized=authorized, **kwargs)
        except AssertionError:  # UserInfo's own checks (e.g. the e-mail address)
            return None
        self.db.add(user)
        self.db.commit()
        return user

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
        valid = await asyncio.to_thread(password_matches, data["password"], user.password)
        if valid and user.is_authorized and (
                not user.has_2fa or user.is_valid_token(data.get("2fa"))):
            self.successful_login(name)
            return name
        self.add_login_attempt(name)
        return None
