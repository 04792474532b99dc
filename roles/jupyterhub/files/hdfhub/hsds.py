"""HSDS (the HDF5 REST service) for each user, when the hsds role runs it.

HSDS checks a password as the first 32 hex digits of sha512(name + salt),
with a salt only root reads (roles/hsds). So every hub user, guests
included, has credentials from the moment they exist, without HSDS keeping
a list of users or restarting for a new one; the spawner puts them in the
server's environment, which only the user's own processes read. Each user
owns the folder /home/<name>/ there, made by HSDS's administrator at their
first start; a guest's goes with the guest. A deleted user's credentials
are revoked (nginx refuses a name with a file in revoked_dir) until the name
starts a server again. When HSDS is public, the hub also serves each user
their credentials at /hub/hsds-credentials.
"""
import hashlib
import json
import os
import urllib.parse

from jupyterhub.handlers import BaseHandler
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Unicode, import_item


class Hsds:
    def __init__(self, endpoint, salt_file, admin_user, log, revoked_dir=""):
        self.endpoint = endpoint
        self.salt_file = salt_file
        self.admin_user = admin_user
        self.log = log
        self.revoked_dir = revoked_dir

    def _revoked(self, name):
        return os.path.join(self.revoked_dir, name)

    def revoke(self, name):
        """name's credentials stop working (a deleted user)."""
        with open(self._revoked(name), "a", encoding="utf-8"):
            pass

    def allow(self, name):
        """name's credentials work (again): a start of that name."""
        try:
            os.unlink(self._revoked(name))
        except FileNotFoundError:
            pass

    def password(self, name):
        with open(self.salt_file, encoding="utf-8") as f:
            salt = f.read().strip().split("=", 1)[1]
        return hashlib.sha512((name + salt).encode("utf-8")).hexdigest()[:32]

    def environment(self, name):
        return {"HS_ENDPOINT": self.endpoint, "HS_USERNAME": name, "HS_PASSWORD": self.password(name)}

    async def _as_admin(self, method, path, domain, body=None):
        url = f"{self.endpoint}{path}?{urllib.parse.urlencode({'domain': domain})}"
        request = HTTPRequest(
            url, method=method, body=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"}, auth_username=self.admin_user,
            auth_password=self.password(self.admin_user), request_timeout=60)
        return await AsyncHTTPClient().fetch(request, raise_error=False)

    async def ensure_folder(self, name):
        """/home/<name>/, owned by name: made once, then 409."""
        response = await self._as_admin("PUT", "/", f"/home/{name}", {"folder": True, "owner": name})
        if response.code not in (201, 409):
            self.log.warning("HSDS folder /home/%s/: %s %s", name, response.code, response.reason)

    async def remove_folder(self, name):
        """/home/<name>/ and everything in it (HSDS removes only empty folders)."""
        await self._remove(f"/home/{name}")

    async def _remove(self, domain):
        listing = await self._as_admin("GET", "/domains", domain + "/")
        if listing.code == 200:
            for item in json.loads(listing.body).get("domains", []):
                await self._remove(item["name"])
        response = await self._as_admin("DELETE", "/", domain)
        if response.code not in (200, 404, 410):  # 410: deleted before
            self.log.warning("HSDS domain %s not removed: %s %s", domain, response.code, response.reason)


class CredentialsHandler(BaseHandler):
    """The logged-in user's own h5pyd settings, as a file to save as ~/.hscfg
    on their own machine (HSDS served from outside)."""

    @web.authenticated
    def get(self):
        name = self.current_user.name
        hsds = Hsds(self.authenticator.hsds_public_endpoint, self.authenticator.hsds_salt_file,
                    "", self.log)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="hscfg"')
        self.set_header("Cache-Control", "no-store")
        self.write(f"# h5pyd's settings for {name} on this hub: save as ~/.hscfg\n"
                   f"hs_endpoint = {hsds.endpoint}\n"
                   f"hs_username = {name}\n"
                   f"hs_password = {hsds.password(name)}\n")


def with_credentials_page(authenticator_class):
    """The authenticator class (an import name or a class), with the
    credentials page among its handlers: an authenticator's handlers are
    JupyterHub's supported way to add a hub page."""
    base = import_item(authenticator_class) if isinstance(authenticator_class, str) else authenticator_class

    class HsdsAuthenticator(base):
        hsds_public_endpoint = Unicode(
            config=True, help="HSDS as a laptop reaches it, e.g. https://hub.example.org/hsds.")
        hsds_salt_file = Unicode(
            config=True, help="Root-only file (PASSWORD_SALT=...) HSDS checks passwords with.")

        def get_handlers(self, app):
            return [("/hsds-credentials", CredentialsHandler)] + super().get_handlers(app)

    return HsdsAuthenticator
