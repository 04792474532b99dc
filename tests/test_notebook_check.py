"""hdfgroup.hdfhub.notebook_check through Ansible: the check runs again only
when a notebook, its kernel or an environment's packages change, a failure
keeps no pass, and check mode runs nothing."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

ANSIBLE = shutil.which("ansible", path=str(Path(sys.executable).parent)) or shutil.which("ansible")


def notebook_check(args, check=False):
    proc = subprocess.run(
        [ANSIBLE, "localhost", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "hdfgroup.hdfhub.notebook_check", "-a", json.dumps(args),
         *(["--check"] if check else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"})
    return proc.returncode, json.loads(proc.stdout.partition("=>")[2])


@pytest.fixture
def site(tmp_path):
    """A notebook naming kernel `hdf5`, whose spec points into environment
    `env`; the command counts its runs and fails while `fail` exists."""
    env = tmp_path / "env"
    (env / "lib" / "python3.11" / "site-packages" / "h5py-3.12.1.dist-info").mkdir(parents=True)
    kernels = tmp_path / "kernels"
    (kernels / "hdf5").mkdir(parents=True)
    (kernels / "hdf5" / "kernel.json").write_text(json.dumps({"argv": [str(env / "bin" / "python")]}))
    lesson = tmp_path / "lesson"
    lesson.mkdir()
    (lesson / "01.ipynb").write_text(json.dumps({"metadata": {"kernelspec": {"name": "hdf5"}}}))
    runs = tmp_path / "runs"
    script = f"echo run >> {runs}; if [ -e {tmp_path / 'fail'} ]; then echo broken cell; exit 3; fi"
    args = {"command": ["/bin/sh", "-c", script], "inputs": [str(lesson)],
            "stamp": str(tmp_path / "passed"), "kernel_dirs": [str(kernels)]}

    def ran():
        return len(runs.read_text().splitlines()) if runs.exists() else 0
    return args, env, lesson, ran, tmp_path


def test_runs_once_then_only_when_something_changed(site):
    args, env, lesson, ran, tmp = site
    rc, first = notebook_check(args)
    assert rc == 0 and first["changed"] and first["checked"] and ran() == 1
    rc, again = notebook_check(args)
    assert rc == 0 and not again["changed"] and ran() == 1

    # A package upgraded in the kernel's environment.
    site_packages = env / "lib" / "python3.11" / "site-packages"
    (site_packages / "h5py-3.12.1.dist-info").rename(site_packages / "h5py-3.13.0.dist-info")
    assert notebook_check(args)[1]["changed"] and ran() == 2
    # A data file next to the notebook.
    (lesson / "data.h5").write_bytes(b"\x89HDF")
    assert notebook_check(args)[1]["changed"] and ran() == 3
    # The kernel spec.
    (tmp / "kernels" / "hdf5" / "kernel.json").write_text(json.dumps({"argv": ["/usr/bin/python3"]}))
    assert notebook_check(args)[1]["changed"] and ran() == 4
    assert not notebook_check(args)[1]["changed"] and ran() == 4


def test_a_failure_keeps_no_pass(site):
    args, _env, lesson, ran, tmp = site
    assert notebook_check(args)[0] == 0
    (tmp / "fail").touch()
    (lesson / "01.ipynb").write_text(json.dumps({"metadata": {"kernelspec": {"name": "hdf5"}}}) + " ")
    rc, failed = notebook_check(args)
    assert rc != 0 and "exit status 3" in failed["msg"] and "broken cell" in failed["msg"]
    assert not (tmp / "passed").exists()
    # Unchanged input, still failing: it runs (and fails) again.
    assert notebook_check(args)[0] != 0 and ran() == 3


def test_check_mode_runs_nothing(site):
    args, _env, lesson, ran, _tmp = site
    rc, dry = notebook_check(args, check=True)
    assert rc == 0 and dry["changed"] and ran() == 0
    notebook_check(args)
    rc, dry = notebook_check(args, check=True)
    assert rc == 0 and not dry["changed"] and ran() == 1
