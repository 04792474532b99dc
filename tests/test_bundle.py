"""The offline bundle: its package list against the roles, file naming, and
the manifest check preflight runs on the controller."""
import hashlib
import io
import json
import subprocess
import sys
import tarfile

import pytest
import yaml

from conftest import ROOT, load_module

bundle = load_module("plugins/modules/bundle.py", "hdfgroup.hdfhub.bundle")


def apt_packages_of_roles():
    """Every Debian package a role installs: its vars/Debian.yml names them all
    (in variables named *_packages; the others there are the packages' paths
    and units), and its apt tasks name only those variables."""
    names = set()
    for path in ROOT.glob("roles/*/tasks/*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            spec = task.get("ansible.builtin.apt")
            if spec and path.parent.parent.name != "offline_bundle":
                assert str(spec["name"]).startswith("{{ __"), f"{path}: {spec['name']} (vars/Debian.yml)"
    for path in ROOT.glob("roles/*/vars/Debian.yml"):
        if path.parent.parent.name != "offline_bundle":
            for name, value in yaml.safe_load(path.read_text()).items():
                if name.endswith("_packages"):
                    names.update(value)
    return names


def test_bundle_holds_every_package_a_role_installs():
    listed = yaml.safe_load((ROOT / "roles/offline_bundle/vars/Debian.yml").read_text())
    # certbot serves acme mode only, which preflight refuses offline.
    roles = apt_packages_of_roles()
    assert {"nginx", "restic", "sudo"} <= roles, roles
    missing = roles - set(listed["__offline_bundle_apt_packages"]) - {"certbot"}
    assert not missing, f"add to roles/offline_bundle/vars/Debian.yml: {sorted(missing)}"


@pytest.mark.parametrize("kind, path, expected", [
    ("debs", "debs/libaudit1_1%3a3.0.9-1_amd64.deb", ("libaudit1", "1:3.0.9-1")),
    ("wheels", "wheels/h5py-3.16.0-cp311-cp311-manylinux_2_28_x86_64.whl", ("h5py", "3.16.0")),
    ("npm", "npm/@colors--colors-1.6.1.tgz", ("@colors/colors", "1.6.1")),
    ("conda", "conda/linux-64/hdf5-1.14.6-nompi_h1b119a7_104.conda", ("hdf5", "1.14.6")),
    ("conda", "conda/noarch/repodata.json", ("repodata.json", "")),
    ("envs", "envs/opt--hdfhub--envs--hdf5.tar", ("/opt/hdfhub/envs/hdf5", "")),
])
def test_names_and_versions_come_from_file_names(kind, path, expected):
    assert bundle.name_version(kind, path) == expected


class Failed(Exception):
    pass


class FakeModule:
    def fail_json(self, msg, **_):
        raise Failed(msg)


def make_bundle(path, files, listed=None):
    """A bundle archive holding `files` ({path: bytes}); the manifest lists `listed` (default: all)."""
    listed = files if listed is None else listed
    manifest = {"format": 1, "release": "bookworm", "architecture": "amd64", "python": "3.11",
                "files": [{"path": p, "kind": p.split("/")[0], "name": p, "version": "",
                           "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                          for p, data in listed.items()]}
    with tarfile.open(path, "w") as tar:
        for name, data in {"manifest.json": json.dumps(manifest).encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_intact_bundle_passes(tmp_path):
    make_bundle(tmp_path / "b.tar", {"wheels/a-1-py3-none-any.whl": b"a", "debs/Packages": b"p"})
    manifest = bundle.verify(FakeModule(), str(tmp_path / "b.tar"))
    assert manifest["release"] == "bookworm" and len(manifest["files"]) == 2
    assert len(manifest["sha256"]) == 64


def test_each_damaged_missing_or_unlisted_file_is_named(tmp_path):
    good = {"wheels/a-1-py3-none-any.whl": b"a", "wheels/b-1-py3-none-any.whl": b"b",
            "debs/c_1_all.deb": b"c"}
    archive = tmp_path / "b.tar"
    make_bundle(archive, {"wheels/a-1-py3-none-any.whl": b"A", "debs/c_1_all.deb": b"c",
                          "npm/x-1.tgz": b"x"}, listed=good)
    with pytest.raises(Failed) as failed:
        bundle.verify(FakeModule(), str(archive))
    message = str(failed.value)
    assert "damaged (sha256 differs from the manifest): wheels/a-1-py3-none-any.whl" in message
    assert "missing: wheels/b-1-py3-none-any.whl" in message
    assert "not in the manifest: npm/x-1.tgz" in message
    assert "debs/c_1_all.deb" not in message


def test_only_the_pinned_archive_passes(tmp_path):
    """A manifest vouches only for itself: a swapped wheel with a manifest
    made again to match passes it, but not the sha256 pinned at build time."""
    make_bundle(tmp_path / "built.tar", {"wheels/a-1-py3-none-any.whl": b"a"})
    pin = hashlib.sha256((tmp_path / "built.tar").read_bytes()).hexdigest()
    assert bundle.verify(FakeModule(), str(tmp_path / "built.tar"), pin)["archive_sha256"] == pin
    make_bundle(tmp_path / "swapped.tar", {"wheels/a-1-py3-none-any.whl": b"evil"})
    bundle.verify(FakeModule(), str(tmp_path / "swapped.tar"))  # its own manifest holds
    with pytest.raises(Failed, match=f"not the pinned {pin}"):
        bundle.verify(FakeModule(), str(tmp_path / "swapped.tar"), pin)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE])
def test_members_other_than_regular_files_are_refused(tmp_path, kind):
    archive = tmp_path / "b.tar"
    make_bundle(archive, {"debs/Packages": b"p"})
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("debs/evil")
        info.type, info.linkname = kind, "/etc/shadow"
        tar.addfile(info)
    with pytest.raises(Failed, match="not a regular file: debs/evil"):
        bundle.verify(FakeModule(), str(archive))


def test_archive_without_manifest_is_refused(tmp_path):
    with tarfile.open(tmp_path / "b.tar", "w") as tar:
        tar.addfile(tarfile.TarInfo("debs/Packages"), io.BytesIO(b""))
    with pytest.raises(Failed, match="has no manifest.json"):
        bundle.verify(FakeModule(), str(tmp_path / "b.tar"))


def bundle_with_names(path):
    """A bundle whose manifest names its files as bundle.py's build does."""
    files = ["wheels/Jupyter_Server-2.14.2-py3-none-any.whl", "wheels/onetimepass-1.0.1.tar.gz",
             "npm/@colors--colors-1.6.1.tgz", "conda/linux-64/hdf5-1.14.6-h_1.conda"]
    manifest = {"files": [{"path": p, "kind": p.split("/")[0],
                           **dict(zip(("name", "version"), bundle.name_version(p.split("/")[0], p)))}
                          for p in files]}
    with tarfile.open(path, "w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


NPM_LOCK = json.dumps({"packages": {"": {"name": "proxy"},
                                    "node_modules/@colors/colors": {"version": "1.6.1"}}})


def test_a_bundle_that_holds_every_pin_passes(tmp_path):
    bundle_with_names(tmp_path / "b.tar")
    bundle.holds(FakeModule(), str(tmp_path / "b.tar"),
                 ["jupyter-server==2.14.2 \\\n    --hash=sha256:aa\nonetimepass==1.0.1\n"], NPM_LOCK,
                 ["@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/hdf5-1.14.6-h_1.conda#" + "a" * 64])


def test_pins_the_bundle_lacks_are_named_with_the_rebuild_advice(tmp_path):
    bundle_with_names(tmp_path / "b.tar")
    npm = NPM_LOCK.replace("1.6.1", "1.6.2")
    with pytest.raises(Failed) as failed:
        bundle.holds(FakeModule(), str(tmp_path / "b.tar"),
                     ["jupyter-server==2.15.0\nonetimepass==1.0.1\n"], npm,
                     ["https://conda.anaconda.org/conda-forge/linux-64/hdf5-1.14.7-h_1.conda#" + "a" * 64])
    message = str(failed.value)
    assert "no longer matches the locks: it lacks @colors/colors@1.6.2, jupyter-server==2.15.0, " \
           "linux-64/hdf5-1.14.7-h_1.conda." in message, message
    assert "Rebuild the bundle with playbooks/bundle.yml" in message



class CommandModule:
    """What build_conda needs of AnsibleModule: run_command."""

    def run_command(self, args, check_rc=False, **_):
        proc = subprocess.run(args, capture_output=True, text=True)
        assert not (check_rc and proc.returncode), proc.stderr
        return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def demo_package(tmp_path):
    """A conda package in a channel of its own, and an explicit lock naming it
    by another channel's URL, as locks made against conda-forge do."""
    import conda_channel
    payload = tmp_path / "payload"
    (payload / "share").mkdir(parents=True)
    (payload / "share" / "demo.txt").write_text("demo\n")
    package = conda_channel.write_package(payload, tmp_path / "channel" / "noarch", {
        "name": "demo", "version": "1.0", "build": "0", "subdir": "noarch", "depends": []})
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    lock = f"@EXPLICIT\nhttps://conda.example.org/forge/noarch/{package.name}#sha256:{digest}\n"
    return package, lock, f"file://{tmp_path / 'channel'}"


def test_conda_packages_are_fetched_from_the_channel_and_indexed(tmp_path, demo_package):
    package, lock, channel = demo_package
    bundle.build_conda(CommandModule(), str(tmp_path / "bundle"), [lock], channel, sys.executable)
    fetched = tmp_path / "bundle" / "conda" / "noarch" / package.name
    assert fetched.read_bytes() == package.read_bytes()
    repodata = json.loads((fetched.parent / "repodata.json").read_text())
    assert list(repodata["packages.conda"]) == [package.name]


def test_conda_package_unlike_its_lock_is_refused(tmp_path, demo_package):
    package, lock, channel = demo_package
    package.write_bytes(package.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="checksum differs from the lock"):
        bundle.build_conda(CommandModule(), str(tmp_path / "bundle"), [lock], channel, sys.executable)


@pytest.fixture
def venv_pip(tmp_path):
    """A venv of the system Python, as offline_bundle makes on the builder:
    Debian 12's pip 23.0 and no `wheel`."""
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(tmp_path / "tools")], check=True)
    return str(tmp_path / "tools" / "bin" / "pip")


# From PyPI, as tools/lock.py writes it: six has wheels; onetimepass has
# only a source archive, built at converge with the build pin's setuptools.
HASHED_LOCK = """\
# hdfhub-from-source: onetimepass
# hdfhub-build: setuptools==80.9.0 --hash=sha256:062d34222ad13e0cc312a4c02d73f059e86a4acbfbdea8f8f76b28c99f306922
onetimepass==1.0.1 \\
    --hash=sha256:a569dac076d6e3761cbc55e36952144a637ca1b075c6d509de1c1dbc5e7f6a27
six==1.17.0 \\
    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\
    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81
    # via onetimepass
"""


def test_wheels_and_the_locks_source_archives_and_build_pins_are_fetched(tmp_path, venv_pip):
    bundle.build_wheels(CommandModule(), str(tmp_path), [HASHED_LOCK], venv_pip)
    assert sorted(p.name for p in (tmp_path / "wheels").iterdir()) == [
        "onetimepass-1.0.1.tar.gz", "setuptools-80.9.0-py3-none-any.whl",
        "six-1.17.0-py2.py3-none-any.whl"]
    assert bundle.name_version("wheels", "wheels/onetimepass-1.0.1.tar.gz") == ("onetimepass", "1.0.1")


def test_locks_that_pin_different_versions_both_get_theirs(tmp_path, venv_pip):
    """The hub's lock and HSDS's pin different aiohttp: one pip call would
    refuse both pins together."""
    older = ("six==1.16.0 \\\n    --hash=sha256:"
             "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\n")
    bundle.build_wheels(CommandModule(), str(tmp_path), [HASHED_LOCK, older], venv_pip)
    assert {"six-1.16.0-py2.py3-none-any.whl", "six-1.17.0-py2.py3-none-any.whl"} <= {
        p.name for p in (tmp_path / "wheels").iterdir()}


def test_a_file_unlike_its_locks_hash_is_refused(tmp_path, venv_pip):
    lock = HASHED_LOCK.replace("sha256:4721", "sha256:0721")
    with pytest.raises(AssertionError, match="HASH|hash"):
        bundle.build_wheels(CommandModule(), str(tmp_path), [lock], venv_pip)


def test_a_package_without_a_wheel_is_not_fetched_unless_the_lock_says_so(tmp_path, venv_pip):
    with pytest.raises(AssertionError, match="onetimepass"):
        bundle.build_wheels(CommandModule(), str(tmp_path), ["onetimepass==1.0.1\n"], venv_pip)


def test_git_repositories_go_in_as_mirrors_git_fetches_from(tmp_path):
    remote = tmp_path / "lessons.git"
    subprocess.run([sys.executable, str(ROOT / "molecule/resources/lessons_repo.py"), str(remote)],
                   check=True)
    bundle.build_git(CommandModule(), str(tmp_path / "b"), [{"name": "lessons", "url": str(remote)}])
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["git"]
    made = tmp_path / "b" / "git" / "lessons.git"
    assert bundle.name_version("git", "git/lessons.git/packed-refs") == ("lessons", "")
    assert not (made / "hooks").exists()
    # What the host unpacks: the archive holds files only, no empty directories.
    unpacked = tmp_path / "unpacked"
    for path in made.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            (unpacked / path.relative_to(made)).parent.mkdir(parents=True, exist_ok=True)
            (unpacked / path.relative_to(made)).write_bytes(path.read_bytes())
    clone = tmp_path / "clone"
    # As Ansible's git module does: a path becomes a file:// URL. No
    # --branch: the mirror's HEAD names the remote's default branch.
    subprocess.run(["git", "clone", "--quiet", f"file://{unpacked}", str(clone)], check=True)
    head = subprocess.run(["git", "-C", str(remote), "rev-parse", "main"], check=True,
                          capture_output=True, text=True).stdout
    assert subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout == head
    assert (clone / "intro" / "squares.ipynb").is_file()
