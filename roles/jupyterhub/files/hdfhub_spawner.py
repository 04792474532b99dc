"""SystemdSpawner with the hdfhub user model.

By default (TLJH style) hub user NAME runs as the Unix account
`jupyter-NAME` (see hdfhub_users), made on first start, in a transient
systemd unit of the same name. With PAM, people already have Unix accounts:
`create_accounts` is off and NAME runs as the account NAME, in the unit
`jupyter-NAME`.

Admins keep sudo inside their server only when the site allows it; everyone
else runs with NoNewPrivileges and private devices.
"""
from systemdspawner import SystemdSpawner
from traitlets import Bool

import hdfhub_users


class HdfhubSpawner(SystemdSpawner):
    admin_sudo = Bool(
        True, config=True,
        help="Let admins use sudo in their servers (NoNewPrivileges off for them).")
    create_accounts = Bool(
        True, config=True,
        help="Map NAME to a jupyter-NAME account made on first start; "
             "off when people log in with existing Unix accounts (PAM).")

    def _expand_user_vars(self, string):
        name = self.user.name
        if self.create_accounts:
            # The Unix-safe part after the prefix, so that 'jupyter-{USERNAME}'
            # is both the account and the unit name.
            name = hdfhub_users.unix_username(name)[len(hdfhub_users.PREFIX):]
        return string.replace("{USERNAME}", name).replace("{USERID}", str(self.user.id))

    async def start(self):
        admin = bool(self.user.admin)
        if self.create_accounts:
            hdfhub_users.ensure_user(self.user.name, admin)
        self.disable_user_sudo = not (admin and self.admin_sudo)
        # systemd implies NoNewPrivileges for PrivateDevices in a unit with
        # User=, which would break sudo; a sudo-capable admin gains nothing
        # from device isolation anyway.
        self.isolate_devices = self.disable_user_sudo
        return await super().start()
