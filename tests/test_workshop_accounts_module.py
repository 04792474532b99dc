"""hdfgroup.hdfhub.workshop_accounts through Ansible: a hash it did not write
for a new name is replaced and reported; a password the person changed
later is kept and reported; a second run changes nothing."""
import dbm
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bcrypt

from conftest import ROOT

ANSIBLE = shutil.which("ansible", path=str(Path(sys.executable).parent)) or shutil.which("ansible")


def workshop_accounts(**args):
    proc = subprocess.run(
        [ANSIBLE, "localhost", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "hdfgroup.hdfhub.workshop_accounts", "-a", json.dumps(args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.partition("=>")[2])


def set_hash(path, name, password):
    with dbm.open(str(path), "c", 0o600) as db:
        db[name.encode()] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))


def works(path, name, password):
    with dbm.open(str(path), "r") as db:
        return bcrypt.checkpw(password.encode(), db[name.encode()])


def test_a_stray_hash_is_replaced_and_a_chosen_one_kept(tmp_path):
    store, passwords = tmp_path / "store.json", tmp_path / "passwords.dbm"
    args = {"names": ["ws01", "ws02"], "store": str(store), "dbm_path": str(passwords)}
    set_hash(passwords, "ws02", "a-stranger-was-here")

    first = workshop_accounts(**args)
    handout = {a["name"]: a["password"] for a in first["accounts"]}
    assert first["changed"] and first["replaced"] == ["ws02"] and first["user_chosen"] == []
    assert all(works(passwords, name, handout[name]) for name in handout)
    assert not works(passwords, "ws02", "a-stranger-was-here")

    set_hash(passwords, "ws01", "chosen-after-login")
    again = workshop_accounts(**args)
    assert not again["changed"] and again["replaced"] == []
    assert again["user_chosen"] == ["ws01"] and works(passwords, "ws01", "chosen-after-login")
    assert {a["name"]: a["password"] for a in again["accounts"]} == handout


def test_a_rebuilt_host_takes_the_controllers_passwords(tmp_path):
    """A fresh store (a host rebuilt for a restore) gives the passwords the
    controller's handout lists, parsed by the handout_passwords filter, and
    generates the rest; a password changed on the hub is no password."""
    from ansible_collections.hdfgroup.hdfhub.plugins.filter.users import handout_passwords
    known = handout_passwords("name,password,hub\n"
                              "admin,abcd-efgh-jkmn,https://hub.test/\n"
                              "root2,(changed on the hub),https://hub.test/\n")
    assert known == {"admin": "abcd-efgh-jkmn"} and handout_passwords("") == {}
    store, passwords = tmp_path / "store.json", tmp_path / "passwords.dbm"
    made = workshop_accounts(names=["admin", "root2"], store=str(store),
                             dbm_path=str(passwords), known=known)
    given = {a["name"]: a["password"] for a in made["accounts"]}
    assert given["admin"] == "abcd-efgh-jkmn" and works(passwords, "admin", "abcd-efgh-jkmn")
    assert given["root2"] != "(changed on the hub)" and works(passwords, "root2", given["root2"])
