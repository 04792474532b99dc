"""hdfgroup.hdfhub.secret_file through Ansible: made once, 0600, never replaced,
never returned, and check mode writes nothing."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

ANSIBLE = shutil.which("ansible", path=str(Path(sys.executable).parent)) or shutil.which("ansible")


def secret_file(*args, check=False):
    proc = subprocess.run(
        [ANSIBLE, "localhost", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "hdfgroup.hdfhub.secret_file", "-a", " ".join(args), *(["--check"] if check else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(proc.stdout.partition("=>")[2])


def test_made_once_private_and_kept(tmp_path):
    path = tmp_path / "proxy.env"
    _, dry = secret_file(f"path={path}", check=True)
    assert dry["changed"] and not path.exists()
    out, made = secret_file(f"path={path}", "prefix=TOKEN=")
    text = path.read_text()
    assert made["changed"] and oct(path.stat().st_mode & 0o777) == "0o600"
    assert text.startswith("TOKEN=") and len(text.strip()) == len("TOKEN=") + 64
    assert text.strip().split("=")[1] not in out  # never returned
    _, again = secret_file(f"path={path}", "prefix=TOKEN=")
    assert not again["changed"] and path.read_text() == text


def test_urlsafe_tokens_differ(tmp_path):
    for name in ("a", "b"):
        secret_file(f"path={tmp_path / name}", "encoding=urlsafe")
    a, b = ((tmp_path / n).read_text() for n in ("a", "b"))
    assert a != b and len(a.strip()) >= 43


def test_group_and_mode_on_a_new_file_and_an_existing_one(tmp_path):
    path = tmp_path / "hub-token"
    _, made = secret_file(f"path={path}", "group=daemon", "mode=0640")
    st = path.stat()
    assert made["changed"] and oct(st.st_mode & 0o777) == "0o640" and st.st_gid == 1  # daemon
    text = path.read_text()
    _, again = secret_file(f"path={path}", "group=daemon", "mode=0640")
    assert not again["changed"]
    path.chmod(0o600)
    _, dry = secret_file(f"path={path}", "group=daemon", "mode=0640", check=True)
    assert dry["changed"] and oct(path.stat().st_mode & 0o777) == "0o600"
    _, fixed = secret_file(f"path={path}", "group=daemon", "mode=0640")
    assert fixed["changed"] and oct(path.stat().st_mode & 0o777) == "0o640"
    assert path.read_text() == text  # the secret itself is never replaced
