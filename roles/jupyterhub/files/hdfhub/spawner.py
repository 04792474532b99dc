"""SystemdSpawner with the hdfhub user model.

By default (TLJH style) hub user NAME runs as the Unix account
`jupyter-NAME` (see hdfhub.users), made on first start, in a transient
systemd unit of the same name. With PAM, people already have Unix accounts:
`create_accounts` is off and NAME runs as the account NAME, in the unit
`jupyter-NAME`.

Admins keep sudo inside their server only when the site allows it; everyone
else runs with NoNewPrivileges and private devices, and sees the system
(environments included) read-only and no home but their own (`confine`).

Guests (hdfhub.guests) always get a jupyter-guest-... account of their own,
even where people log in with PAM, run with the guest limits, open on the
featured notebooks, and lose account and home when the hub deletes them.

For a room of people pressing Start together (docs/benchmarks.md): at most
`start_slots` servers start at once, the rest wait their turn as pending;
the hub learns a server is up within 50 ms instead of after its own
backoff; and useradd runs off the hub's event loop.
"""
import asyncio
import os
import pwd
import time

from systemdspawner import SystemdSpawner
from traitlets import Bool, Dict, Float, Integer, Unicode, default

from hdfhub import guests
from hdfhub import users
from hdfhub.hsds import Hsds

# How often a starting server's port is tried.
PORT_POLL_S = 0.05


async def wait_for_port(ip, port, timeout):
    """Return once something accepts connections on ip:port (or at timeout;
    the hub's own HTTP check then reports the failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(ip, port)
        except OSError:
            await asyncio.sleep(PORT_POLL_S)
            continue
        writer.close()
        return


def link_into_home(account, links):
    """Make each name -> target link in the account's home, owned by the
    account, unless the name is already taken (a link, file or directory the
    user made or kept stays as it is)."""
    entry = pwd.getpwnam(account)
    for name, target in links.items():
        path = os.path.join(entry.pw_dir, name)
        try:
            os.symlink(target, path)
        except FileExistsError:
            continue
        os.lchown(path, entry.pw_uid, entry.pw_gid)


def confinement(home):
    """Unit properties that leave a server only its own home writable:
    /usr, /etc, /opt (the shared environments) and the rest read-only, and
    /home, /root and /run/user an empty tmpfs with only `home` bound back,
    so other people's homes and runtime directories do not even exist."""
    return {
        "ProtectSystem": "strict",
        "ProtectHome": "tmpfs",
        "BindPaths": home,
        # A home outside /home (PAM accounts) is not under the tmpfs.
        "ReadWritePaths": home,
    }


def guest_files(entry, size, links):
    """Unit properties for a guest: confinement() with the home, /tmp and
    /var/tmp each an empty tmpfs of `size`. tmpfs pages are charged to the
    unit's memory, so a guest cannot fill the host's disk, and nothing it
    wrote outlives its server. The home links are read-only bind mounts
    (skipped where the target is missing), as the tmpfs hides the home on
    disk."""
    uid, gid = entry.pw_uid, entry.pw_gid
    return {
        "ProtectSystem": "strict",
        "ProtectHome": "tmpfs",
        "TemporaryFileSystem": " ".join([
            f"{entry.pw_dir}:size={size},mode=0700,uid={uid},gid={gid}",
            f"/tmp:size={size},mode=1777",
            f"/var/tmp:size={size},mode=1777"]),
        "BindReadOnlyPaths": " ".join(
            f"-{target}:{entry.pw_dir}/{name}" for name, target in sorted(links.items())),
    }


class HdfhubSpawner(SystemdSpawner):
    _start_slots = None  # one semaphore per hub process, made on first use
    _extra_properties = None  # unit_extra_properties as configured
    admin_sudo = Bool(
        True, config=True,
        help="Let admins use sudo in their servers (NoNewPrivileges off for them).")
    create_accounts = Bool(
        True, config=True,
        help="Map NAME to a jupyter-NAME account made on first start; "
             "off when people log in with existing Unix accounts (PAM).")
    confine = Bool(
        True, config=True,
        help="Servers without sudo see the system read-only and only their "
             "own home (see confinement()).")
    home_links = Dict(
        value_trait=Unicode(), config=True,
        help="Links made in each home as its server starts (name: target), "
             "e.g. shared content; a name already taken is left alone.")
    guest_mem_limit = Unicode(
        "1G", config=True, help="mem_limit of a guest's server.")
    guest_cpu_limit = Float(
        0.5, config=True, help="cpu_limit of a guest's server.")
    guest_disk_limit = Unicode(
        "256M", config=True,
        help="Size of each tmpfs a guest can write to: its home, /tmp and /var/tmp.")
    guest_tasks_max = Integer(
        128, config=True,
        help="TasksMax of a guest's server: its processes and threads together.")
    guest_default_url = Unicode(
        "/lab/tree/shared/featured", config=True,
        help="Where a guest's server opens (default_url).")
    start_slots = Integer(
        config=True,
        help="Servers that may be starting at the same time (default: one per "
             "CPU). A start is CPU-bound: more at once only slows every start, "
             "and the hub, down.")

    @default("start_slots")
    def _default_start_slots(self):
        return os.cpu_count() or 1

    hsds_endpoint = Unicode(
        "", config=True, help="HSDS for h5pyd, on loopback (HS_ENDPOINT); empty: none.")
    hsds_salt_file = Unicode(
        config=True, help="Root-only file (PASSWORD_SALT=...) HSDS checks passwords with.")
    hsds_admin_user = Unicode(config=True, help="HSDS's administrator, who makes users' folders.")
    hsds_revoked_dir = Unicode(
        config=True, help="A file per deleted user's name here: nginx refuses its HSDS credentials.")

    @property
    def hsds(self):
        if not self.hsds_endpoint:
            return None
        return Hsds(self.hsds_endpoint, self.hsds_salt_file, self.hsds_admin_user, self.log,
                    self.hsds_revoked_dir)

    def get_env(self):
        env = super().get_env()
        if self.hsds:
            env.update(self.hsds.environment(self.user.name))
        return env

    def _expand_user_vars(self, string):
        name = self.user.name
        if self.create_accounts:
            # The Unix-safe part after the prefix, so that 'jupyter-{USERNAME}'
            # is both the account and the unit name.
            name = users.unix_username(name)[len(users.PREFIX):]
        return string.replace("{USERNAME}", name).replace("{USERID}", str(self.user.id))

    async def start(self):
        admin = bool(self.user.admin)
        guest = guests.is_guest(self.user)
        if guest:
            # Per spawner (one per user), so staff settings stay as configured.
            self.create_accounts = True
            self.username_template = users.PREFIX + "{USERNAME}"
            self.mem_limit = self.guest_mem_limit
            self.cpu_limit = self.guest_cpu_limit
            self.default_url = self.guest_default_url
        if self.create_accounts:
            # useradd takes a while; in the event loop it would stall every
            # other request the hub is serving.
            await asyncio.to_thread(users.ensure_user, self.user.name, admin, guest)
        account = self._expand_user_vars(self.username_template)
        entry = pwd.getpwnam(account)
        if entry.pw_uid == 0:
            # The name pattern refuses 'root'; an alias of uid 0 (pam) is caught here.
            raise RuntimeError(f"{account} is root: no server runs as root")
        if guest:
            # Files of its own only in memory (guest_files): no private /tmp on disk.
            self.isolate_tmp = False
        else:
            link_into_home(account, self.home_links)
        self.disable_user_sudo = not (admin and self.admin_sudo)
        # systemd implies NoNewPrivileges for PrivateDevices in a unit with
        # User=, which would break sudo; a sudo-capable admin gains nothing
        # from device isolation anyway.
        self.isolate_devices = self.disable_user_sudo
        # Per start, from the configured properties: someone can become (or
        # stop being) an admin between two starts.
        if self._extra_properties is None:
            self._extra_properties = dict(self.unit_extra_properties)
        extra = dict(self._extra_properties)
        if guest:
            extra.update(guest_files(entry, self.guest_disk_limit, self.home_links))
            # No fork bomb; System V IPC in a namespace of its own, and the
            # POSIX shared memory (/dev/shm) it made removed when it stops,
            # so nothing of it is left for the next account with its uid.
            extra.update(TasksMax=str(self.guest_tasks_max), PrivateIPC="yes", RemoveIPC="yes")
        elif self.confine and self.disable_user_sudo:
            # An admin with sudo is root in effect: confining them is moot
            # and would only break `sudo apt install`.
            extra.update(confinement(entry.pw_dir))
        self.unit_extra_properties = extra
        if self.hsds:
            self.hsds.allow(self.user.name)
            await self.hsds.ensure_folder(self.user.name)
        if HdfhubSpawner._start_slots is None:
            HdfhubSpawner._start_slots = asyncio.Semaphore(self.start_slots)
        async with HdfhubSpawner._start_slots:
            url = await super().start()
            if url:
                await wait_for_port(*url, self.http_timeout)
        return url

    async def delete_forever(self):
        """The hub deletes a user: their HSDS credentials stop working, and a
        guest's account, home and HSDS folder go too. Staff accounts, homes
        and folders stay (removing them is the site's decision)."""
        if self.hsds:
            self.hsds.revoke(self.user.name)
        if guests.is_guest(self.user):
            await asyncio.to_thread(users.remove_guest, self.user.name)
            if self.hsds:
                await self.hsds.remove_folder(self.user.name)
