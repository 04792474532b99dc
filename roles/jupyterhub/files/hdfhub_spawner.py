"""SystemdSpawner that makes the Unix account on first start (TLJH style).

Hub user NAME runs as `jupyter-NAME` (see hdfhub_users) in a transient
systemd unit of the same name. Admins keep sudo inside their server only when
the site allows it; everyone else runs with NoNewPrivileges and private
devices.
"""
from systemdspawner import SystemdSpawner
from traitlets import Bool

import hdfhub_users


class HdfhubSpawner(SystemdSpawner):
    admin_sudo = Bool(
        True, config=True,
        help="Let admins use sudo in their servers (NoNewPrivileges off for them).")

    def _expand_user_vars(self, string):
        # {USERNAME} is the cleaned, Unix-safe part after the prefix, so
        # 'jupyter-{USERNAME}' is both the account and the unit name.
        account = hdfhub_users.unix_username(self.user.name)
        short = account[len(hdfhub_users.PREFIX):]
        return string.replace("{USERNAME}", short).replace("{USERID}", str(self.user.id))

    async def start(self):
        admin = bool(self.user.admin)
        hdfhub_users.ensure_user(self.user.name, admin)
        self.disable_user_sudo = not (admin and self.admin_sudo)
        # systemd implies NoNewPrivileges for PrivateDevices in a unit with
        # User=, which would break sudo; a sudo-capable admin gains nothing
        # from device isolation anyway.
        self.isolate_devices = self.disable_user_sudo
        return await super().start()
