"""Shared content (roles/content): sample data and featured notebooks in a
read-only directory that every server sees as ~/shared, and the deploy-time
check that runs each featured notebook before it is published."""
import json
import pathlib

import pytest

from conftest import account, run_site, write_notebook

SHARED = "/srv/hdfhub/shared"
SHIPPED = pathlib.Path(__file__).resolve().parents[3] / "roles/content/files/featured"
ENV_PYTHON = "/opt/hdfhub/envs/hdf5/bin/python"


def test_shared_content_is_root_owned_and_world_readable(host):
    for path in (SHARED, f"{SHARED}/data", f"{SHARED}/featured"):
        d = host.file(path)
        assert d.is_directory and d.user == "root" and d.mode == 0o755, path
    published = sorted(host.file(f"{SHARED}/featured").listdir())
    # 05-hsds only where the hub runs HSDS.
    hsds = host.file("/etc/systemd/system/hdfhub-hsds.service").exists
    assert published == sorted(p.name for p in SHIPPED.glob("*.ipynb")
                               if hsds or p.name != "05-hsds.ipynb")
    for name in published + ["../data/sample.h5", "../data/sample.nc"]:
        f = host.file(f"{SHARED}/featured/{name}")
        assert f.user == "root" and f.mode == 0o644, name


def test_sample_files_hold_what_the_notebooks_read(host):
    out = host.check_output(
        f"{ENV_PYTHON} -c \"import h5py, hdf5plugin, xarray as xr; "
        f"f = h5py.File('{SHARED}/data/sample.h5'); t = f['climate/temperature']; "
        f"ds = xr.open_dataset('{SHARED}/data/sample.nc'); "
        "print(t.shape, t.attrs['units'], ds['tas'].shape, bool((ds['tas'].values == t[:]).all()))\"")
    assert out == "(30, 18, 36) K (30, 18, 36) True"


def test_server_sees_shared_in_its_home_read_only(host, alice_server):
    home = host.user(account("alice")).home
    link = host.file(f"{home}/shared")
    assert link.is_symlink and link.linked_to == SHARED
    # The link's own owner (testinfra's File.user follows it).
    assert host.check_output(f"stat -c %U {home}/shared") == account("alice")
    got = json.loads(alice_server.run_code("""
import json, os, h5py
with h5py.File(os.path.expanduser("~/shared/data/sample.h5")) as f:
    shape = list(f["climate/temperature"].shape)
try:
    open(os.path.expanduser("~/shared/featured/mine.ipynb"), "w")
    wrote = True
except OSError:
    wrote = False
print(json.dumps({"shape": shape, "wrote": wrote}))
"""))
    assert got == {"shape": [30, 18, 36], "wrote": False}


def test_a_link_name_the_user_took_is_left_alone(host, alice_server):
    home = host.user(account("alice")).home
    # Replaced by a directory of her own, it survives her next start.
    host.check_output(f"rm {home}/shared && install -d -o {account('alice')} {home}/shared")
    try:
        alice_server.stop()
        alice_server.start()
        assert host.file(f"{home}/shared").is_directory
        assert not host.file(f"{home}/shared").is_symlink
    finally:
        host.check_output(f"rmdir {home}/shared && ln -s {SHARED} {home}/shared "
                          f"&& chown -h {account('alice')} {home}/shared")


@pytest.fixture
def broken_notebook(tmp_path):
    """A featured notebook that imports what the environment does not have."""
    return write_notebook(tmp_path / "needs-missing-module.ipynb", "import hdfhub_no_such_module\n")


def test_a_failing_notebook_stops_the_converge_before_it_is_published(host, broken_notebook):
    run = run_site({"hdfhub_featured_notebooks": [broken_notebook]}, tags=["content"])
    try:
        out = run.stdout + run.stderr
        assert run.returncode != 0, out[-3000:]
        assert "Run every featured notebook in the kernel it names" in out, out[-3000:]
        assert "ModuleNotFoundError" in out and "hdfhub_no_such_module" in out, out[-3000:]
        assert not host.file(f"{SHARED}/featured/{broken_notebook.name}").exists
    finally:
        host.run(f"rm -f /var/lib/hdfhub-featured-check/featured/{broken_notebook.name}")
