"""Guests: "Try it" on the login page, for visitors without an account.

`with_guests(name)` adds to the site's authenticator class:
- POST /hub/try: a new hub user `guest-<random>` in the hub group `hdfhub-guests`,
  logged in in this browser and sent on to its server, unless `max_guests`
  guests exist already (then 503), or `max_guests_per_client` of them were
  made for this client address (then 429); a refusal makes nothing;
- logging out as a guest deletes the guest at once.

The hub's other way of deleting a guest is the guest culler, an idle-culler
service whose role sees that group only: it deletes idle guests, and guests
at their maximum age even while active. Either way the spawner's
`delete_forever` removes the guest's Unix account and home
(hdfhub.spawner.HdfhubSpawner), so nothing a guest made outlives the guest.

Guest names never come from a login form: the hub's username pattern
(users.LOGIN_NAME_PATTERN) refuses the prefix.
"""
import secrets

from jupyterhub import orm
from jupyterhub.handlers import BaseHandler
from jupyterhub.handlers.login import LogoutHandler
from jupyterhub.utils import maybe_future, utcnow
from tornado import web
from traitlets import Integer, import_item

from hdfhub import users

# Not just "guests": an OAuth provider's group of that name (manage_groups)
# must not make its members guests.
GROUP = "hdfhub-guests"
PREFIX = users.GUEST_PREFIX


def is_guest(user):
    """True for a hub user (orm or wrapped) made by the Try it button."""
    return user.name.startswith(PREFIX) and any(group.name == GROUP for group in user.groups)


class TryHandler(BaseHandler):
    """Make a guest and log this browser in as it."""

    def get(self):
        self.redirect(self.settings["login_url"])

    async def post(self):
        # Made here, not by load_groups, which the hub refuses next to an
        # authenticator that manages groups (generic-oauth).
        group = orm.Group.find(self.db, GROUP)
        if group is None:
            group = orm.Group(name=GROUP)
            self.db.add(group)
        limit = self.authenticator.max_guests
        # The address nginx saw (its X-Real-IP): one client must not take
        # every place.
        client = self.request.remote_ip
        clients = self.authenticator.guest_clients
        # No await between counting and adding: two clicks cannot both take
        # the last place.
        if len(group.users) >= limit:
            raise web.HTTPError(
                503, f"All {limit} guest places are in use. Please try again in a few "
                     "minutes: a guest's place frees up when they log out or go idle.")
        for deleted in clients.keys() - {guest.name for guest in group.users}:
            del clients[deleted]
        ours = sum(address == client for address in clients.values())
        if ours >= self.authenticator.max_guests_per_client:
            raise web.HTTPError(
                429, f"{ours} guests are already in use from your address. Log out of one "
                     "(or let it go idle) to try again.")
        name = PREFIX + secrets.token_hex(4)
        while self.find_user(name) is not None:
            name = PREFIX + secrets.token_hex(4)
        user = self.user_from_username(name)
        group.users.append(user.orm_user)
        clients[name] = client
        # The culler counts idleness from here until the server reports in.
        user.orm_user.last_activity = utcnow(with_tz=False)
        self.db.commit()
        self.log.info("Guest %s made (%d of %d places)", name, len(group.users), limit)
        self.set_login_cookie(user)
        self.redirect(self.get_next_url(user))


class GuestLogoutHandler(LogoutHandler):
    """Log out as usual; a guest is then deleted, server, account and files."""

    async def handle_logout(self):
        user = self.current_user
        if user is None or not is_guest(user):
            return
        if user.running:
            await self.stop_single_user(user)
        if user.spawner._stop_pending:
            return  # a slow stop: the guest culler deletes the guest later
        await user.delete_spawners()
        self.users.delete(user)
        self.log.info("Guest %s logged out and deleted", user.name)


def with_guests(authenticator_class):
    """The authenticator class of this import name, with the Try it button's
    handlers."""

    class GuestsAuthenticator(import_item(authenticator_class)):
        max_guests = Integer(
            10, config=True, help="Guests that may exist at the same time.")
        max_guests_per_client = Integer(
            3, config=True,
            help="Guests made for one client address that may exist at the same "
                 "time. Kept in memory: a hub restart forgets whose guests exist.")

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.guest_clients = {}  # guest name: the client address it was made for

        def get_handlers(self, app):
            # Before the hub's own: this /logout replaces the default one.
            return [("/try", TryHandler), ("/logout", GuestLogoutHandler)] + \
                super().get_handlers(app)

        async def refresh_user(self, user, handler=None):
            # A guest has no credentials the site's authenticator could refresh.
            if is_guest(user):
                return True
            return await maybe_future(super().refresh_user(user, handler))

    return GuestsAuthenticator
