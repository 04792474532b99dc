"""The checkout is also the collection hdfgroup.hdfhub: build it, install the
tarball into a fresh virtualenv, and use it by full names from a playbook
outside the repository, as someone else's project would."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
DEV_SITE_PACKAGES = next(p for p in map(Path, sys.path) if (p / "ansible_collections").is_dir())
CORE_VERSION = next(line.split("==")[1].strip() for line in
                    (ROOT / "requirements.txt").read_text().splitlines()
                    if line.startswith("ansible-core=="))

USER_PLAYBOOK = """\
- name: A hub in a playbook of my own
  hosts: all
  become: true
  roles:
    - role: hdfgroup.hdfhub.preflight
    - role: hdfgroup.hdfhub.nginx_tls
  tasks:
    - name: Use a module of the collection
      hdfgroup.hdfhub.venv:
        path: /opt/example
        lock: ""
        python: /usr/bin/python3
        uv: /opt/example-uv/bin/uv

- name: The whole appliance
  ansible.builtin.import_playbook: hdfgroup.hdfhub.site
"""


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([shutil.which("ansible-galaxy", path=str(Path(sys.executable).parent)),
                    "collection", "build", "--output-path", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    return out / f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"


@pytest.fixture(scope="module")
def user_env(tarball, tmp_path_factory):
    """A fresh venv with ansible-core and the tarball installed, nothing else of ours."""
    if UV is None:
        pytest.skip("needs uv")
    base = tmp_path_factory.mktemp("user")
    venv = base / "venv"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([UV, "pip", "install", "--quiet", "--python", str(venv / "bin/python"),
                    f"ansible-core=={CORE_VERSION}"], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    # The dependencies galaxy.yml declares, from the pinned `ansible` package.
    env.update(ANSIBLE_COLLECTIONS_PATH=str(DEV_SITE_PACKAGES), ANSIBLE_NOCOLOR="1",
               HOME=str(base), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    subprocess.run([venv / "bin/ansible-galaxy", "collection", "install", "--no-deps",
                    "--collections-path", str(site), str(tarball)],
                   check=True, capture_output=True, env=env, cwd=base)
    project = base / "project"
    project.mkdir()
    return venv, env, project, site


def run(user_env, *argv):
    venv, env, project, _ = user_env
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def test_tarball_holds_the_collection_and_not_the_tests(tarball):
    names = set(tarfile.open(tarball).getnames())
    for needed in ("MANIFEST.json", "meta/runtime.yml", "playbooks/site.yml",
                   "roles/jupyterhub/tasks/main.yml", "roles/jupyterhub/tasks/validate.yml",
                   "plugins/modules/venv.py", "plugins/action/check_settings.py",
                   "plugins/filter/users.py", "roles/jupyterhub/files/hdfhub/users.py"):
        assert needed in names, needed
    for kept_out in ("molecule", "tests", "tools", "collections", ".venv", "benchmarks"):
        assert not any(n == kept_out or n.startswith(kept_out + "/") for n in names), kept_out


def test_installed_copy_is_the_one_found(user_env):
    _, _, _, site = user_env
    listing = run(user_env, "ansible-galaxy", "collection", "list", "--format", "json",
                  "hdfgroup.hdfhub")
    assert listing.returncode == 0, listing.stderr
    paths = json.loads(listing.stdout)
    assert list(paths) == [str(site / "ansible_collections")], paths


def test_user_playbook_passes_syntax_check_by_full_names(user_env):
    _, _, project, _ = user_env
    (project / "hub.yml").write_text(USER_PLAYBOOK)
    check = run(user_env, "ansible-playbook", "--syntax-check", "-i", "localhost,", "hub.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    # The control: a role the collection does not have fails the same check.
    (project / "typo.yml").write_text(USER_PLAYBOOK.replace("hdfhub.nginx_tls", "hdfhub.nginx"))
    typo = run(user_env, "ansible-playbook", "--syntax-check", "-i", "localhost,", "typo.yml")
    assert typo.returncode != 0 and "hdfgroup.hdfhub.nginx" in typo.stdout + typo.stderr


def test_installed_filters_work(user_env, users_model):
    """The installed filter maps names by the same model the hub uses."""
    result = run(user_env, "ansible", "localhost", "-c", "local", "-m", "ansible.builtin.debug",
                 "-a", "msg={{ 'grace.hopper@example.org' | hdfgroup.hdfhub.unix_username }}")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = users_model.unix_username("grace.hopper@example.org")
    assert f'"msg": "{expected}"' in result.stdout, result.stdout
