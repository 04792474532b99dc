#!/usr/bin/env python3
"""Build a small local conda channel, for testing the conda backend here.

conda-forge cannot be reached from this machine, so the tests make their own
channel from what can be reached:

- `python`: Debian's own interpreter (/usr/bin/python3.X and /usr/lib/python3.X)
  copied into a linux-64 package. CPython finds its standard library next to
  its executable, so the copy runs from any prefix. It still links the
  system's shared libraries (libssl, libsqlite3, ...), so it runs only on the
  Debian release it was copied from, and it adds a `sitecustomize.py`
  because Debian's site.py knows only dist-packages. A test fixture, not a
  conda-forge Python.
- one package per PyPI wheel (ipykernel and h5py with all their
  dependencies, pinned like the pip backend's lock): pure-Python wheels
  become `noarch: python` packages, binary ones linux-64 packages for that
  Python. Requires-Dist becomes `depends`, so the solver has real work.
- `hdfhub-demo`, a noarch package with a one-function module, so a test can
  tell that code came from the channel.

Packages are written with conda-package-handling and indexed with
py-rattler's `index_fs` (conda-index needs conda itself, which PyPI does not
have). Usage: `python tests/conda_channel.py DIR`.
"""
import argparse
import asyncio
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import HeaderParser

from conda_package_handling import api as cph
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
import rattler
from rattler.index import index_fs

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The interpreter packaged as `python`: the one the Debian target runs too.
SYSTEM_PYTHON = "/usr/bin/python3"
# Wheels for the channel, with every dependency; versions come from the pip
# backend's lock, so the two backends' kernels run the same code.
REQUIREMENTS = ["ipykernel", "h5py"]
CONSTRAINTS = ROOT / "roles/hdf_env/files/pip/hdf5.lock"
# pip download takes each platform tag it may accept: those of glibc 2.36
# (Debian 12) and older.
MANYLINUX = [*(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
             "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
DEMO_VERSION = "1.0.0"
# zstd level: packages are built on every test run, so favour speed.
COMPRESSION_LEVEL = 3
SITECUSTOMIZE = '''\
# Added by hdfhub's test channel: Debian's site.py adds only dist-packages
# directories, but conda packages install into lib/pythonX.Y/site-packages.
import os
import site
import sys

site.addsitedir(os.path.join(sys.prefix, "lib", "python%d.%d" % sys.version_info[:2],
                             "site-packages"))
'''
DEMO_MODULE = '''\
"""A module from hdfhub's local test channel."""


def greet(name):
    return f"hello {name} from the hdfhub test channel"
'''


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def write_package(root, subdir_dir, index):
    """Write info/ (index.json, paths.json, files) for the payload under
    `root` and pack both into <subdir_dir>/<name>-<version>-<build>.conda."""
    payload = sorted(p for p in root.rglob("*")
                     if (p.is_file() or p.is_symlink()) and p.relative_to(root).parts[0] != "info")
    paths = []
    for p in payload:
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            paths.append({"_path": rel, "path_type": "softlink"})
        else:
            paths.append({"_path": rel, "path_type": "hardlink", "sha256": sha256(p),
                          "size_in_bytes": p.stat().st_size})
    info = root / "info"
    info.mkdir(exist_ok=True)
    index = {"arch": None, "platform": None, "build_number": 0, "license": "various",
             "timestamp": int(time.time() * 1000), **index}
    if index["subdir"] == "linux-64":
        index.update(arch="x86_64", platform="linux")
    (info / "index.json").write_text(json.dumps(index, indent=1))
    (info / "paths.json").write_text(json.dumps({"paths": paths, "paths_version": 1}, indent=1))
    (info / "files").write_text("".join(e["_path"] + "\n" for e in paths))
    members = [p.relative_to(root).as_posix() for p in sorted(info.iterdir())]
    members += [e["_path"] for e in paths]
    name = f"{index['name']}-{index['version']}-{index['build']}.conda"
    subdir_dir.mkdir(parents=True, exist_ok=True)
    cph.create(str(root), members, str(subdir_dir / name), compression_level=COMPRESSION_LEVEL)
    return subdir_dir / name


def python_version(python):
    out = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def build_python(channel, work, python=SYSTEM_PYTHON):
    """The `python` package: the system interpreter and its standard library."""
    version = python_version(python)
    xy = ".".join(version.split(".")[:2])
    root = work / "python"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(os.path.realpath(python), root / "bin" / f"python{xy}")
    os.symlink(f"python{xy}", root / "bin" / "python3")
    os.symlink(f"python{xy}", root / "bin" / "python")
    stdlib = pathlib.Path(f"/usr/lib/python{xy}")
    # Left out: the static libpython and headers (25 MB, only for building
    # extensions), the test suite, and Debian's pip guard and sitecustomize.
    shutil.copytree(stdlib, root / "lib" / f"python{xy}", symlinks=True,
                    ignore=shutil.ignore_patterns("config-*", "test", "EXTERNALLY-MANAGED",
                                                  "sitecustomize.py", "dist-packages"))
    (root / "lib" / f"python{xy}" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return write_package(root, channel / "linux-64", {
        "name": "python", "version": version, "build": "0_hdfhub_debian",
        "subdir": "linux-64", "depends": [], "license": "PSF-2.0"})


def target_environment(version):
    """PEP 508 marker values of the packaged Python on Linux x86_64."""
    return {"python_version": ".".join(version.split(".")[:2]), "python_full_version": version,
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "os_name": "posix", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "extra": ""}


def conda_depends(metadata, environment):
    """Requires-Dist (without extras, markers evaluated) as conda match specs."""
    depends = []
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate(environment):
            continue
        spec = f"{canonicalize_name(req.name)} {req.specifier}".strip()
        try:
            rattler.MatchSpec(spec)
        except Exception:  # a PEP 440 form conda cannot express: keep the name
            spec = canonicalize_name(req.name)
        depends.append(spec)
    return depends


def build_from_wheel(channel, work, wheel, py_version):
    """A conda package with the wheel's files, the way conda-forge lays them out."""
    xy = ".".join(py_version.split(".")[:2])
    root = work / wheel.stem
    with zipfile.ZipFile(wheel) as z:
        dist_info = next(n.split("/")[0] for n in z.namelist()
                         if n.split("/")[0].endswith(".dist-info"))
        metadata = HeaderParser().parsestr(z.read(f"{dist_info}/METADATA").decode())
        wheel_info = HeaderParser().parsestr(z.read(f"{dist_info}/WHEEL").decode())
        pure = wheel_info["Root-Is-Purelib"].strip() == "true" and wheel.name.endswith("-none-any.whl")
        # noarch: python packages hold site-packages/; the installer puts it
        # under the environment's lib/pythonX.Y. Binary ones name the path.
        site = root / ("site-packages" if pure else f"lib/python{xy}/site-packages")
        z.extractall(site)
    # A wheel's .data (scripts, headers, data files) would go elsewhere in a
    # conda package; the test environment needs none of it.
    for data in site.glob("*.data"):
        shutil.rmtree(data)
    name = canonicalize_name(metadata["Name"])
    depends = conda_depends(metadata, target_environment(py_version))
    if pure:
        requires = metadata.get("Requires-Python")
        depends.append(f"python {requires}" if requires else "python")
        index = {"subdir": "noarch", "noarch": "python", "build": "pyh_hdfhub_0"}
        (root / "info").mkdir()
        (root / "info" / "link.json").write_text(json.dumps(
            {"noarch": {"type": "python"}, "package_metadata_version": 1}))
    else:
        depends.append(f"python {xy}.*")
        index = {"subdir": "linux-64", "build": f"py{xy.replace('.', '')}_hdfhub_0"}
    return write_package(root, channel / index["subdir"], {
        "name": name, "version": metadata["Version"], "depends": depends, **index})


def build_demo(channel, work):
    root = work / "hdfhub-demo"
    (root / "site-packages" / "hdfhub_demo").mkdir(parents=True)
    (root / "site-packages" / "hdfhub_demo" / "__init__.py").write_text(DEMO_MODULE)
    (root / "info").mkdir()
    (root / "info" / "link.json").write_text(json.dumps(
        {"noarch": {"type": "python"}, "package_metadata_version": 1}))
    return write_package(root, channel / "noarch", {
        "name": "hdfhub-demo", "version": DEMO_VERSION, "build": "pyh_hdfhub_0",
        "subdir": "noarch", "noarch": "python", "depends": ["python >=3.9"]})


def download_wheels(dest, requirements, py_version):
    """Wheels of `requirements` and their dependencies, pinned as the pip lock pins them."""
    xy = ".".join(py_version.split(".")[:2])
    pins = dest / "pins.txt"
    subprocess.run([sys.executable, "-m", "uv", "pip", "compile", "-", "--quiet", "--no-header",
                    "--constraint", str(CONSTRAINTS), "--python-version", xy,
                    "--python-platform", "x86_64-manylinux_2_36", "--only-binary", ":all:",
                    "-o", str(pins)],
                   input="\n".join(requirements), text=True, check=True)
    # pip, not uv: uv keeps no .whl files. Same Python and platform as the target.
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--only-binary", ":all:",
                    "--python-version", xy, "--implementation", "cp",
                    *(arg for tag in MANYLINUX for arg in ("--platform", tag)),
                    "-d", str(dest), "-r", str(pins)], check=True)
    return sorted(dest.glob("*.whl"))


def build_channel(channel, requirements=REQUIREMENTS, python=SYSTEM_PYTHON):
    """Build and index the channel in `channel`; return the package paths."""
    channel = pathlib.Path(channel).resolve()
    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    py_version = python_version(python)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        built = [build_python(channel, work, python), build_demo(channel, work)]
        wheels = download_wheels(work / "wheels", requirements, py_version) if requirements else []
        built += [build_from_wheel(channel, work, whl, py_version) for whl in wheels]
    asyncio.run(index_fs(channel, write_zst=False, write_shards=False))
    return built


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("channel", type=pathlib.Path, help="directory to build the channel in")
    p.add_argument("--requirement", action="append", dest="requirements",
                   help=f"PyPI project to package, with its dependencies (default: {REQUIREMENTS})")
    a = p.parse_args()
    start = time.monotonic()
    built = build_channel(a.channel, a.requirements or REQUIREMENTS)
    print(f"built {len(built)} packages in {a.channel} in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
    from conda_lock import run_and_exit
    run_and_exit(main)
