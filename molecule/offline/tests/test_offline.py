"""What makes the offline install offline: a host with no network, packages
from the bundle, and a bundle that fails its checks stopping site.yml in
preflight before anything changes."""
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import tarfile

import pytest

from hubfixtures import run_site

EPHEMERAL = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
BUNDLE = EPHEMERAL / "hdfhub-bundle.tar"
UNPACKED = "/opt/hdfhub/bundle"
ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_host_has_only_loopback(host):
    assert host.check_output("ls /sys/class/net").split() == ["lo"]
    assert host.run("getent hosts deb.debian.org").rc != 0


def test_bundle_unpacked_root_owned(host):
    bundle = host.file(UNPACKED)
    assert (bundle.user, bundle.group, bundle.mode) == ("root", "root", 0o755)
    with tarfile.open(BUNDLE) as tar:
        manifest = tar.extractfile("manifest.json").read().decode()
    assert host.file(f"{UNPACKED}/manifest.json").content_string == manifest


@pytest.mark.parametrize("package", ["nginx", "restic", "nftables"])
def test_debian_packages_are_the_bundles(host, package):
    with tarfile.open(BUNDLE) as tar:
        files = json.load(tar.extractfile("manifest.json"))["files"]
    bundled = {f["name"]: f["version"] for f in files if f["kind"] == "debs"}
    assert host.check_output(f"dpkg-query -W -f '${{Version}}' {package}") == bundled[package]


def test_lessons_came_from_the_bundle(host):
    """prepare.yml's repository lives only on the builder (file:///srv/lessons.git):
    the hub published the commit the bundle holds, and people can pull it."""
    with tarfile.open(BUNDLE) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["git"] == ["lessons"]
    assert {f["name"] for f in manifest["files"] if f["kind"] == "git"} == {"lessons"}
    built = subprocess.run(["git", "-C", str(BUNDLE.parent / "lessons.git"), "rev-parse", "main"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert host.check_output("git -C /srv/hdfhub/shared/lessons rev-parse HEAD") == built
    assert host.file("/srv/hdfhub/shared/lessons/intro/squares.ipynb").user == "root"
    assert host.run("command -v git").rc == 0  # for nbgitpuller, from the bundle's debs


def test_the_environments_came_ready_made_from_the_bundle(host):
    """Built on the builder, then unpacked here, not installed: the file each
    installer writes when it makes an environment (a venv's pyvenv.cfg, a
    conda package's record) is older than the bundle's manifest, which the
    builder wrote after packing them; an install here would be newer."""
    manifest = json.loads(host.file(f"{UNPACKED}/manifest.json").content_string)
    carried = {env["path"] for env in manifest["environments"]}
    assert carried == {"/opt/hdfhub/envs/hdf5", "/opt/hdfhub/envs/conda-demo",
                       "/opt/hdfhub/hub", "/opt/hdfhub/hsds"}
    packed = host.file(f"{UNPACKED}/manifest.json").mtime
    for path in carried:
        made = (f"{path}/pyvenv.cfg" if host.file(f"{path}/pyvenv.cfg").exists
                else host.check_output(f"ls {path}/conda-meta/python-3*.json"))
        assert host.file(made).mtime < packed, f"{path} was installed here, not unpacked"


def test_a_bundle_built_from_other_locks_is_refused_in_preflight(host, tmp_path):
    """The inventory's lock moved on after the bundle was built (here h5py):
    preflight says to rebuild the bundle, and the host stays as it was."""
    lock = tmp_path / "hdf5.lock"
    lock.write_text(re.sub(r"^h5py==\S+", "h5py==3.0.0",
                           (ROOT / "roles/hdf_env/files/pip/hdf5.lock").read_text(), count=1,
                           flags=re.MULTILINE))
    environments = [{"name": "hdf5", "display_name": "Python 3 (HDF5)", "lockfile": str(lock)},
                    {"name": "conda-demo", "display_name": "Conda demo", "backend": "conda",
                     "lockfile": str(EPHEMERAL / "conda-demo.lock")}]
    before = host_state(host)
    result = run_site({"hdf_env_environments": environments})
    assert result.returncode != 0
    assert f"hdfhub_offline_bundle: {BUNDLE} no longer matches the locks: it lacks h5py==3.0.0. " \
           "Rebuild the bundle with playbooks/bundle.yml" in result.stdout, result.stdout[-3000:]
    assert "Look at the bundle unpacked on the host" not in result.stdout
    assert host_state(host) == before


def test_host_apt_sources_are_untouched(host):
    # Offline apt reads its own configuration (APT_CONFIG); the host's stays as it was.
    listing = host.check_output("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true")
    assert "file:" not in listing and "deb.debian.org" in listing


def test_proxy_came_from_the_bundle_tarballs(host):
    version = json.loads(host.file(
        "/opt/hdfhub/proxy/node_modules/configurable-http-proxy/package.json").content_string)["version"]
    assert host.file(f"{UNPACKED}/npm/configurable-http-proxy-{version}.tgz").exists


def damaged_copy(tmp_path, member_name):
    """A copy of the bundle with one byte of `member_name`'s content flipped."""
    copy = tmp_path / "damaged.tar"
    shutil.copyfile(BUNDLE, copy)
    with tarfile.open(copy) as tar:
        offset = tar.getmember(member_name).offset_data
    with open(copy, "r+b") as f:
        f.seek(offset + 100)
        byte = f.read(1)
        f.seek(offset + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    return copy


CHECK_TASK = ("TASK [hdfgroup.hdfhub.offline_bundle : Check the bundle against its pinned "
              "sha256, then its files against its manifest]")


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def host_state(host):
    return host.check_output("dpkg-query -W; sha256sum /opt/hdfhub/bundle/manifest.json; "
                             "find /opt/hdfhub /etc/hdfhub /etc/nginx -newer /etc/hostname | sort")


def test_damaged_bundle_fails_in_preflight_naming_the_file(host, tmp_path):
    with tarfile.open(BUNDLE) as tar:
        wheel = next(m.name for m in tar.getmembers() if m.name.startswith("wheels/h5py-"))
    before = host_state(host)
    damaged = damaged_copy(tmp_path, wheel)
    # Pinned as if it had been built so: the manifest check is what catches it.
    result = run_site({"hdfhub_offline_bundle": damaged,
                       "hdfhub_offline_bundle_sha256": sha256(damaged)})
    assert result.returncode != 0
    assert f"damaged (sha256 differs from the manifest): {wheel}" in result.stdout
    assert CHECK_TASK in result.stdout
    # Nothing after preflight ran (offline_bundle's first task, for one), and
    # the host is as it was.
    assert "Look at the bundle unpacked on the host" not in result.stdout
    assert host_state(host) == before


def test_swapped_wheel_with_a_matching_manifest_fails_against_the_pin(host, tmp_path):
    """Whoever can change the archive can write a manifest to match; the
    sha256 pinned in the inventory when the bundle was built still tells."""
    swapped = tmp_path / "swapped.tar"
    with tarfile.open(BUNDLE) as tar, tarfile.open(swapped, "w", format=tarfile.PAX_FORMAT) as out:
        manifest = json.load(tar.extractfile("manifest.json"))
        wheel = next(f for f in manifest["files"] if f["path"].startswith("wheels/h5py-"))
        evil = b"not the wheel that was built"
        wheel.update(sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))
        for member in tar.getmembers():
            data = {wheel["path"]: evil,
                    "manifest.json": json.dumps(manifest).encode()}.get(member.name)
            if data is None:
                out.addfile(member, tar.extractfile(member))
            else:
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
    before = host_state(host)
    result = run_site({"hdfhub_offline_bundle": swapped})
    assert result.returncode != 0
    assert f"has sha256 {sha256(swapped)}, not the pinned {sha256(BUNDLE)}" in result.stdout
    assert CHECK_TASK in result.stdout
    assert host_state(host) == before


def test_missing_bundle_fails_in_preflight(host, tmp_path):
    result = run_site({"hdfhub_offline_bundle": tmp_path / "nowhere.tar"})
    assert result.returncode != 0
    assert f"hdfhub_offline_bundle: {tmp_path / 'nowhere.tar'} is not a readable bundle" in result.stdout


def test_hsds_runs_from_the_bundle_with_no_network(host, alice_server):
    """HSDS came from the bundle's wheels (the host has no network); a user's
    kernel reads the shared sample through it and writes a domain of its own,
    and the deploy-time check ran 05-hsds the same way."""
    with tarfile.open(BUNDLE) as tar:
        wheels = [n for n in tar.getnames() if n.startswith("wheels/hsds-")]
    assert wheels and host.file("/opt/hdfhub/hsds/bin/hsds-node").exists
    got = json.loads(alice_server.run_code("""
import json, os
import h5pyd, numpy as np
with h5pyd.File("/shared/sample.h5", "r") as f:
    shape = list(f["climate/temperature"].shape)
with h5pyd.File(f"/home/{os.environ['HS_USERNAME']}/offline.h5", "w") as f:
    f["x"] = np.arange(1000)
with h5pyd.File(f"/home/{os.environ['HS_USERNAME']}/offline.h5", "r") as f:
    total = int(f["x"][()].sum())
print(json.dumps([shape, total]))
""").strip().splitlines()[-1])
    assert got == [[30, 18, 36], 499500]
    assert host.file("/srv/hdfhub/shared/featured/05-hsds.ipynb").exists
