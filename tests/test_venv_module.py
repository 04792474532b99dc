"""The hdfgroup.hdfhub.venv module's reading of locks and venvs, and its plan."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, Runner, load_module

venv = load_module("plugins/modules/venv.py", "hdfgroup.hdfhub.venv")
prebuilt = load_module("plugins/module_utils/prebuilt.py", "hdfgroup.hdfhub.prebuilt")


def test_lock_lines_and_comments():
    pins = venv.read_lock("numpy==2.4.6\n    # via h5py\nTyping_Extensions==4.15.0 ; python_version < '3.13'\n\n")
    assert pins == {"numpy": ("numpy", "2.4.6", ()),
                    "typing-extensions": ("Typing_Extensions", "4.15.0", ())}


def test_hashes_and_header_lines_are_read():
    text = ("# hdfhub-from-source: onetimepass\n"
            "# hdfhub-build: setuptools==80.9.0 --hash=sha256:aa\n"
            "onetimepass==1.0.1 \\\n    --hash=sha256:bb\n    # via x\n"
            "typing-extensions==4.15.0 ; python_version < '3.13' \\\n"
            "    --hash=sha256:cc \\\n    --hash=sha256:dd\n")
    pins = venv.read_lock(text)
    assert pins["onetimepass"] == ("onetimepass", "1.0.1", ("sha256:bb",))
    assert pins["typing-extensions"].hashes == ("sha256:cc", "sha256:dd")
    assert venv.from_source(text) == {"onetimepass"}
    assert venv.build_requirements(text) == ["setuptools==80.9.0 --hash=sha256:aa"]


def test_the_repositorys_locks_pin_every_file_by_hash():
    """What --require-hashes at converge needs (tools/lock.py writes them)."""
    locks = [spec.with_suffix(".lock") for spec in sorted(ROOT.glob("roles/*/files/**/*.in"))]
    assert len(locks) >= 4  # uv, py-rattler, the hub, the hdf5 environment
    for lock in [*locks, ROOT / "molecule/operations/hub-previous.lock"]:
        text = lock.read_text()
        unhashed = [key for key, pin in venv.read_lock(text).items() if not pin.hashes]
        assert not unhashed, f"{lock.name}: {unhashed}"
        if venv.from_source(text):
            assert venv.build_requirements(text), f"{lock.name} builds from source without build pins"


def test_unpinned_line_is_refused():
    with pytest.raises(ValueError, match="not a pin"):
        venv.read_lock("numpy>=2\n")


def test_installed_metadata_is_read(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    for name, version in [("h5py", "3.16.0"), ("Jupyter_Server", "2.17.0")]:
        d = site / f"{name}-{version}.dist-info"
        d.mkdir(parents=True)
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")
    assert venv.installed_in(str(tmp_path)) == {"h5py": "3.16.0", "jupyter-server": "2.17.0"}


def test_plan_installs_missing_and_changed_and_removes_extras():
    pins = venv.read_lock("a==1\nb==2\nc==3\n")
    install, remove = venv.plan(pins, {"a": "1", "b": "1", "pip": "23", "stray": "9"})
    assert install == ["b==2", "c==3"]
    # uv makes venvs without pip; one left by an older venv goes too.
    assert remove == ["pip", "stray"]


def test_plan_of_a_venv_in_step_is_empty():
    pins = venv.read_lock("a==1\nb==2\n")
    assert venv.plan(pins, {"a": "1", "b": "2"}) == ([], [])


def test_only_the_locks_source_packages_may_be_built():
    lock = (ROOT / "roles/jupyterhub/files/hub.lock").read_text()
    pins = venv.read_lock(lock)
    source = venv.from_source(lock)
    assert source == {"onetimepass"} and "onetimepass" in pins
    args = venv.binary_args(pins, source)
    assert args[::2] == ["--only-binary"] * (len(pins) - 1)
    assert sorted(args[1::2]) == sorted(pin.name for key, pin in pins.items()
                                        if key != "onetimepass")


def test_a_lock_without_source_packages_is_wheels_only():
    lock = "a==1\nb==2\n"
    assert venv.binary_args(venv.read_lock(lock), venv.from_source(lock)) == ["--only-binary", ":all:"]


SIX = "six==1.17.0"
SIX_SHA256 = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """A directory holding six's wheel from PyPI, as an offline bundle would."""
    found = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--dest", str(found), SIX], check=True)
    return found


def run_module(tmp_path, lock, wheels, prebuilt=""):
    """The module as Ansible runs it (its own process, real uv), offline."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "path": str(tmp_path / "venv"), "lock": lock, "python": sys.executable,
        "uv": shutil.which("uv", path=os.path.dirname(sys.executable)),
        "cache_dir": str(tmp_path / "cache"), "prebuilt": str(prebuilt),
        "install_args": ["--offline", "--no-index", f"--find-links={wheels}"]}}))
    proc = subprocess.run([sys.executable, str(ROOT / "plugins/modules/venv.py"), str(args)],
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "collections")})
    return json.loads(proc.stdout)


def test_a_wheel_unlike_its_locks_hash_is_refused(tmp_path, wheels):
    """Wherever a wheel comes from (here an offline directory), uv installs
    it only if it has one of its pin's hashes."""
    wrong = run_module(tmp_path, f"{SIX} --hash=sha256:{'0' * 64}\n", wheels)
    assert wrong.get("failed") and "hash" in wrong["stderr"].lower(), wrong
    right = run_module(tmp_path, f"{SIX} \\\n    --hash=sha256:{SIX_SHA256}\n", wheels)
    assert not right.get("failed") and right["installed"] == [SIX], right


LOCK = f"{SIX} \\\n    --hash=sha256:{SIX_SHA256}\n"


@pytest.fixture
def bundle_dir(tmp_path, wheels):
    """An unpacked bundle carrying the venv at tmp_path/venv built from LOCK
    (built there, packed, then taken away, as on a builder)."""
    assert not run_module(tmp_path, LOCK, wheels).get("failed")
    root = tmp_path / "bundle"
    entry = prebuilt.pack(Runner(), str(tmp_path / "venv"), LOCK, str(root))
    (root / "manifest.json").write_text(json.dumps({"environments": [entry]}))
    shutil.rmtree(tmp_path / "venv")
    return root


def test_a_carried_venv_is_unpacked_not_installed(tmp_path, bundle_dir):
    # No wheels at all: an install would fail, so this venv came from the archive.
    result = run_module(tmp_path, LOCK, tmp_path / "no-wheels", prebuilt=bundle_dir)
    assert not result.get("failed") and result["unpacked"].endswith(".tar"), result
    assert venv.installed_in(str(tmp_path / "venv")) == {"six": "1.17.0"}
    ran = subprocess.run([tmp_path / "venv/bin/python", "-c", "import six; print(six.__version__)"],
                         capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "1.17.0"
    again = run_module(tmp_path, LOCK, tmp_path / "no-wheels", prebuilt=bundle_dir)
    assert again["changed"] is False and again["unpacked"] == ""


def test_a_venv_carried_for_another_lock_is_installed_instead(tmp_path, wheels, bundle_dir):
    other = LOCK + "# another lock, the same pins\n"
    result = run_module(tmp_path, other, wheels, prebuilt=bundle_dir)
    assert not result.get("failed") and result["unpacked"] == "" and result["installed"] == [SIX]


def test_a_carried_venv_unlike_its_lock_is_not_put_in_place(tmp_path, wheels, bundle_dir):
    """The archive says it was built from this lock but holds something else
    (here: six removed): the venv is installed from the wheels instead, and
    nothing unpacked is left behind."""
    archive = next((bundle_dir / "envs").glob("*.tar"))
    work = tmp_path / "tampered"
    work.mkdir()
    subprocess.run(["tar", "-xf", archive, "-C", work], check=True)
    for found in work.glob("lib/python*/site-packages/six*"):
        if found.is_dir():
            shutil.rmtree(found)
        else:
            found.unlink()
    subprocess.run(["tar", "-cf", archive, "-C", work, "."], check=True)
    result = run_module(tmp_path, LOCK, wheels, prebuilt=bundle_dir)
    assert not result.get("failed") and result["unpacked"] == "" and result["installed"] == [SIX]
    assert not list(tmp_path.glob("venv.*"))
