#!/usr/bin/python
"""Module hdfgroup.hdfhub.secret_file: a file holding a random secret, made on
the host once and never read back."""
import os
import secrets

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: secret_file
short_description: Make a file that holds a random secret, once, on the host
description:
  - >-
    If O(path) does not exist, writes a new random secret to it with mode
    0600 (root's umask 077 while it is written), as C(prefix + token) and a
    newline. An existing file is left exactly as it is, so converging again
    changes nothing and never replaces a secret that is in use.
  - >-
    The secret is made on the host with Python's C(secrets) module and is
    never returned, so it does not reach the controller, a log or a diff.
options:
  path:
    description: The file.
    type: path
    required: true
  encoding:
    description: C(hex) (two characters per byte) or C(urlsafe) (base64url).
    type: str
    choices: [hex, urlsafe]
    default: hex
  bytes:
    description: How many random bytes.
    type: int
    default: 32
  prefix:
    description: Text before the token, e.g. C(NAME=) for an environment file.
    type: str
    default: ""
notes:
  - >-
    The file's owner, group and mode are the usual file options; they are
    set on an existing file too. Without O(mode) a new file is 0600.
extends_documentation_fragment: [ansible.builtin.files]
"""

EXAMPLES = r"""
- name: Make the hub's cookie secret
  hdfgroup.hdfhub.secret_file:
    path: /var/lib/hdfhub/jupyterhub_cookie_secret

- name: Make a token one service user may read
  hdfgroup.hdfhub.secret_file:
    path: /etc/prometheus/hdfhub-hub-token
    group: prometheus
    mode: "0640"
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
"""


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "encoding": {"type": "str", "choices": ["hex", "urlsafe"], "default": "hex"},
            "bytes": {"type": "int", "default": 32},
            "prefix": {"type": "str", "default": ""},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    made = not os.path.exists(p["path"])
    if made and module.check_mode:
        module.exit_json(changed=True, path=p["path"])
    if made:
        token = (secrets.token_hex if p["encoding"] == "hex" else secrets.token_urlsafe)(p["bytes"])
        # O_EXCL: never follow a link or overwrite a file made meanwhile.
        fd = os.open(p["path"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(f"{p['prefix']}{token}\n")
    # Owner, group and mode as asked, on a new file and an existing one.
    changed = module.set_fs_attributes_if_different(module.load_file_common_arguments(p), made)
    module.exit_json(changed=changed, path=p["path"])


if __name__ == "__main__":
    main()
