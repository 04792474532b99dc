"""The conda backend, for real: a channel, a lock, the module, a kernel.

conda-forge is out of reach here, so the test builds a local channel
(tests/conda_channel.py: Debian's Python, ipykernel and h5py from PyPI
wheels, a demo package), locks a spec against it with tools/conda_lock.py,
and runs the role's hdfgroup.hdfhub.conda_env module through Ansible to make the
environment. Then a kernel, started from the kernelspec the role renders,
runs h5py and the demo package in that environment.
"""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import ROOT, Runner, load_module
from test_templates import render

conda_env = load_module("plugins/modules/conda_env.py", "hdfgroup.hdfhub.conda_env")
ANSIBLE = shutil.which("ansible", path=str(pathlib.Path(sys.executable).parent))
# The test environment's spec, shared with the molecule scenario `conda`.
SPEC = ROOT / "tests" / "conda-demo.yml"

needs_debian_python = pytest.mark.skipif(
    not pathlib.Path("/usr/bin/python3").exists() or not list(pathlib.Path("/usr/lib").glob("python3.*/os.py")),
    reason="the test channel packages Debian's /usr/bin/python3 and its /usr/lib/python3.X")


# --- the lock reader and the plan (no channel needed) ----------------------

SHA = "ab" * 32


def test_lock_entries_keep_order_and_take_either_hash_form():
    entries = conda_env.read_lock(
        "# platform: linux-64\n@EXPLICIT\n"
        f"https://conda.anaconda.org/conda-forge/linux-64/python-3.12.13-h9e4cc4f_0_cpython.conda#sha256:{SHA}\n"
        f"https://mirror.test/cf/noarch/jupyterhub-singleuser-6.1.1-pyh31011fe_0.tar.bz2#{SHA.upper()}\n")
    assert [(e["name"], e["subdir"], e["file_name"]) for e in entries] == [
        ("python", "linux-64", "python-3.12.13-h9e4cc4f_0_cpython.conda"),
        ("jupyterhub-singleuser", "noarch", "jupyterhub-singleuser-6.1.1-pyh31011fe_0.tar.bz2")]
    assert {e["sha256"] for e in entries} == {SHA}


@pytest.mark.parametrize("text", [
    "@EXPLICIT\nhttps://x/linux-64/python-3.12.13-h_0.conda\n",            # no hash
    "@EXPLICIT\nhttps://x/linux-64/python-3.12.13-h_0.conda#md5:abc\n",    # md5 only
    "@EXPLICIT\npython 3.12.*\n",                                          # a spec, not a URL
    "# nothing\n@EXPLICIT\n",
])
def test_a_lock_without_hashed_urls_is_refused(text):
    with pytest.raises(ValueError):
        conda_env.read_lock(text)


def test_plan_installs_missing_and_changed_and_removes_extras():
    entries = [{"name": n, "subdir": "noarch", "file_name": f"{n}-1-0.conda", "sha256": SHA}
               for n in ("a", "b", "c")]
    installed = {"a": ("a-1-0.conda", SHA), "b": ("b-1-0.conda", "cd" * 32),
                 "stray": ("stray-9-0.conda", SHA)}
    assert conda_env.plan(entries, installed) == (["b-1-0.conda", "c-1-0.conda"], ["stray"])
    assert conda_env.plan(entries, {e["name"]: (e["file_name"], SHA) for e in entries}) == ([], [])


def test_conda_spec_pins_the_hubs_jupyterhub():
    hub = next(line.split("==")[1].split()[0] for line in
               (ROOT / "roles/jupyterhub/files/hub.lock").read_text().splitlines()
               if line.startswith("jupyterhub=="))
    spec = yaml.safe_load((ROOT / "roles/hdf_env/files/conda/hdf5.yml").read_text())
    assert f"jupyterhub-singleuser {hub}" in spec["dependencies"]


# --- a real channel, lock, environment and kernel ----------------------------

@pytest.fixture(scope="module")
def channel(tmp_path_factory):
    # In a process of its own, like the lock tool: py-rattler's runtime stays
    # out of pytest's process.
    path = tmp_path_factory.mktemp("channel")
    subprocess.run([sys.executable, "tests/conda_channel.py", str(path)], cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="module")
def lock(channel, tmp_path_factory):
    out = tmp_path_factory.mktemp("lock") / "conda-demo.lock"
    subprocess.run([sys.executable, "tools/conda_lock.py", str(SPEC), "--channel", channel.as_uri(),
                    "--output", str(out)], cwd=ROOT, check=True)
    return out


def run_module(tmp_path, prefix, lock_text, channel, check=False, prebuilt=""):
    """hdfgroup.hdfhub.conda_env through Ansible, as the role runs it; its result as a dict."""
    args = {"path": str(prefix), "lock": lock_text, "channel": channel,
            "rattler_venv": sys.prefix, "cache_dir": str(tmp_path / "cache"),
            "prebuilt": str(prebuilt)}
    proc = subprocess.run(
        [ANSIBLE, "localhost", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "hdfgroup.hdfhub.conda_env", "-a", json.dumps(args), *(["--check"] if check else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"})
    head, _, body = proc.stdout.partition("=>")
    result = json.loads(body)
    result["failed"] = proc.returncode != 0 or "FAILED" in head
    return result


@pytest.fixture(scope="module")
def env(channel, lock, tmp_path_factory):
    """The environment, made once by the module; the tests below share it."""
    tmp = tmp_path_factory.mktemp("envs")
    prefix = tmp / "envs" / "conda-demo"
    first_check = run_module(tmp, prefix, lock.read_text(), channel.as_uri(), check=True)
    made = run_module(tmp, prefix, lock.read_text(), channel.as_uri())
    return {"tmp": tmp, "prefix": prefix, "check": first_check, "made": made}


@needs_debian_python
def test_lock_lists_every_package_with_the_sha256_of_its_file(channel, lock):
    text = lock.read_text()
    assert "@EXPLICIT" in text.splitlines()
    urls = [line for line in text.splitlines() if "://" in line]
    assert len(urls) == len(list(channel.glob("*/*.conda")))
    for line in urls:
        url, digest = line.split("#sha256:")
        path = channel / url.removeprefix(channel.as_uri() + "/")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path.name
    # Dependencies come before their dependents: python first, the demo after it.
    names = [conda_env.read_lock(line)[0]["name"] for line in urls]
    assert names[0] == "python"
    assert names.index("ipykernel") > names.index("jupyter-client")


@needs_debian_python
def test_module_creates_the_environment_and_check_mode_changes_nothing(env):
    assert env["check"]["changed"] and not env["check"]["failed"]
    assert "hdfhub-demo-1.0.0-pyh_hdfhub_0.conda" in env["check"]["installed"]
    assert env["made"]["changed"] and not env["made"]["failed"], env["made"]
    assert sorted(env["made"]["installed"]) == sorted(env["check"]["installed"])
    # Root-owned, and nothing in it writable by others.
    for path in [env["prefix"], *env["prefix"].rglob("*")]:
        if not path.is_symlink():
            assert not path.stat().st_mode & 0o002, path


@needs_debian_python
def test_module_is_idempotent(env, lock, channel):
    again = run_module(env["tmp"], env["prefix"], lock.read_text(), channel.as_uri())
    assert not again["failed"], again
    assert again["changed"] is False
    assert again["installed"] == [] and again["removed"] == []


@needs_debian_python
def test_environment_python_runs_code_from_the_channel(env):
    out = subprocess.run(
        [str(env["prefix"] / "bin" / "python"), "-c",
         "import sys, hdfhub_demo; print(sys.prefix); print(hdfhub_demo.greet('conda'))"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [str(env["prefix"]), "hello conda from the hdfhub test channel"]


@needs_debian_python
def test_kernel_from_the_role_kernelspec_runs_h5py(env):
    """The kernelspec the role registers starts this environment's Python,
    and the kernel writes and reads an HDF5 dataset."""
    kernels = env["tmp"] / "share" / "jupyter" / "kernels" / "conda-demo"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(render(
        "hdf_env", "kernel.json.j2", hdf_env_root=str(env["prefix"].parent),
        item={"name": "conda-demo", "display_name": "Conda demo"}))
    driver = textwrap.dedent("""
        import json, sys
        from jupyter_client.manager import start_new_kernel
        km, kc = start_new_kernel(kernel_name="conda-demo")
        out = []
        try:
            reply = kc.execute_interactive(sys.argv[1], timeout=60, output_hook=lambda m:
                out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
            print(json.dumps({"status": reply["content"]["status"], "out": "".join(out)}))
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        """)
    code = textwrap.dedent("""
        import sys, h5py, numpy as np, hdfhub_demo
        with h5py.File("k.h5", "w") as f:
            f.create_dataset("x", data=np.arange(10), compression="gzip")
        with h5py.File("k.h5") as f:
            print(sys.executable, int(f["x"][()].sum()), hdfhub_demo.greet("kernel"))
        """)
    proc = subprocess.run(
        [str(env["prefix"] / "bin" / "python"), "-c", driver, code], cwd=env["tmp"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "JUPYTER_PATH": str(env["tmp"] / "share" / "jupyter"),
             "JUPYTER_RUNTIME_DIR": str(env["tmp"] / "runtime")})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["status"] == "ok", got
    assert got["out"].split(" ", 2) == [str(env["prefix"] / "bin" / "python"), "45",
                                        "hello kernel from the hdfhub test channel\n"]


@needs_debian_python
def test_module_removes_what_the_lock_drops_and_puts_it_back(env, lock, channel):
    full = lock.read_text()
    smaller = "".join(line for line in full.splitlines(keepends=True) if "/hdfhub-demo-" not in line)
    dropped = run_module(env["tmp"], env["prefix"], smaller, channel.as_uri())
    assert dropped["changed"] and dropped["removed"] == ["hdfhub-demo"], dropped
    assert not (env["prefix"] / "lib/python3.11/site-packages/hdfhub_demo/__init__.py").exists()
    back = run_module(env["tmp"], env["prefix"], full, channel.as_uri())
    assert back["installed"] == ["hdfhub-demo-1.0.0-pyh_hdfhub_0.conda"], back
    assert (env["prefix"] / "lib/python3.11/site-packages/hdfhub_demo/__init__.py").exists()


@needs_debian_python
def test_a_package_whose_hash_differs_from_the_lock_is_refused(env, lock, channel, tmp_path):
    line = next(line for line in lock.read_text().splitlines() if "/hdfhub-demo-" in line)
    tampered = "@EXPLICIT\n" + line.split("#sha256:")[0] + "#sha256:" + "0" * 64 + "\n"
    result = run_module(tmp_path, tmp_path / "envs" / "tampered", tampered, channel.as_uri())
    assert result["failed"]
    assert "sha256 differs from the lock: noarch/hdfhub-demo-1.0.0-pyh_hdfhub_0.conda" in result["msg"]
    assert not (tmp_path / "envs" / "tampered").exists()


@needs_debian_python
def test_an_environment_an_offline_bundle_carries_is_unpacked(env, lock, tmp_path):
    """Packed as bundle.yml packs it, then unpacked at the same prefix on a
    host whose channel serves nothing: it came from the archive, records and
    all, and runs."""
    prebuilt = load_module("plugins/module_utils/prebuilt.py", "hdfgroup.hdfhub.prebuilt")
    root = tmp_path / "bundle"
    entry = prebuilt.pack(Runner(), str(env["prefix"]), lock.read_text(), str(root))
    (root / "manifest.json").write_text(json.dumps({"environments": [entry]}))
    moved = env["prefix"].with_name("moved-away")
    env["prefix"].rename(moved)
    try:
        empty = tmp_path / "empty-channel"
        empty.mkdir()
        got = run_module(tmp_path, env["prefix"], lock.read_text(), empty.as_uri(), prebuilt=root)
        assert not got["failed"] and got["unpacked"] == str(root / entry["archive"]), got
        assert conda_env.plan(conda_env.read_lock(lock.read_text()),
                              conda_env.installed_in(str(env["prefix"]))) == ([], [])
        ran = subprocess.run([env["prefix"] / "bin/python", "-c", "import hdfhub_demo"], check=False)
        assert ran.returncode == 0
    finally:
        shutil.rmtree(env["prefix"], ignore_errors=True)
        moved.rename(env["prefix"])
