#!/usr/bin/env python3
"""Regenerate the pinned lock files from their specs.

Each `<name>.in` next to a lock is the single source of that package list;
`<name>.lock` is generated from it, pinned for the Python of the target
release (Debian 12 ships 3.11) and wheels only, so a converge never compiles
(FROM_SOURCE names the few pure-Python exceptions), with the sha256 of
every file PyPI has for each pin, so that a converge installs nothing else
(`--require-hashes`), wherever the files come from.
Run after editing a spec, then commit both files.
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import support

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins/module_utils"))
import pip_lock  # noqa: E402  (the reader the modules use)
SPECS = [
    ROOT / "roles/python_venv/files/uv.in",
    ROOT / "roles/hdf_env/files/rattler.in",
    ROOT / "roles/jupyterhub/files/hub.in",
    ROOT / "roles/hsds/files/hsds.in",
    *sorted((ROOT / "roles/hdf_env/files/pip").glob("*.in")),
]
# The Python of the first system in the support matrix (tools/support.py),
# and glibc 2.36, Debian 12's, the oldest any supported system has.
TARGET_PYTHON = support.pythons()[0]
TARGET_PLATFORM = "x86_64-manylinux_2_36"
# Dependencies left out of a lock on purpose, by spec file name.
# rfc3987-syntax (and its lark): jsonschema imports it, when present, to check
# the "iri" format, which nothing in Jupyter uses; the import compiles ~35
# grammars and costs every server start ~1.9 s of CPU and ~17 MB.
OMIT = {"hdf5.in": ["rfc3987-syntax", "lark"]}
# Pure-Python packages PyPI has only as a source archive, by spec file name.
# The lock's first line names them (HEADER); hdfgroup.hdfhub.venv lets uv build them at
# install time and hdfgroup.hdfhub.bundle carries a wheel built from each.
# onetimepass: jupyterhub-nativeauthenticator imports it (two-factor codes).
FROM_SOURCE = {"hub.in": ["onetimepass"]}
HEADER = "# hdfhub-from-source:"
# What building those needs (setup.py only: the default backend), pinned with
# hashes on the lock's `# hdfhub-build:` lines, which constrain the build.
BUILD_REQUIRES = ["setuptools==80.9.0"]
BUILD_HEADER = "# hdfhub-build:"
# Every system preflight accepts must find a wheel for every pin as well
# (each system's Python; laptops may be arm64).
ALSO_SERVED = [(python, f"{arch}-manylinux_2_36") for python in support.pythons()
               for arch in ("x86_64", "aarch64")
               if (python, f"{arch}-manylinux_2_36") != (TARGET_PYTHON, TARGET_PLATFORM)]
# Specs served on fewer systems, by spec file name. hsds: bitshuffle has
# wheels for Python 3.11 and 3.12 on x86_64 only (the hsds role's preflight
# check says so to a host it cannot serve).
SERVED_ONLY = {"hsds.in": [("3.12", "x86_64-manylinux_2_36")]}


def compile_(src: pathlib.Path, python: str, platform: str, *extra: str) -> str:
    return subprocess.run([sys.executable, "-m", "uv", "pip", "compile", str(src),
                           "--python-version", python, "--python-platform", platform,
                           "--only-binary", ":all:", "--no-header", "--quiet", *extra],
                          check=True, cwd=ROOT, capture_output=True, text=True).stdout


def build_lines() -> list[str]:
    """BUILD_REQUIRES as `# hdfhub-build:` lines, one per pin with its hashes."""
    with tempfile.NamedTemporaryFile("w", suffix=".in") as spec:
        spec.write("\n".join(BUILD_REQUIRES) + "\n")
        spec.flush()
        out = compile_(pathlib.Path(spec.name), TARGET_PYTHON, TARGET_PLATFORM,
                       "--no-deps", "--generate-hashes", "--no-annotate")
    return [f"{BUILD_HEADER} {line}" for line in pip_lock.requirement_lines(out)]


def lock(spec: pathlib.Path, upgrade: bool) -> None:
    out = spec.with_suffix(".lock")
    omit = [arg for name in OMIT.get(spec.name, []) for arg in ("--no-emit-package", name)]
    source = FROM_SOURCE.get(spec.name, [])
    allow = [arg for name in source for arg in ("--no-binary", name)]
    # -o: uv keeps the lock's current pins unless --upgrade.
    compile_(spec.relative_to(ROOT), TARGET_PYTHON, TARGET_PLATFORM, "--generate-hashes",
             "-o", str(out.relative_to(ROOT)), *omit, *allow, *(["--upgrade"] if upgrade else []))
    header = [f"{HEADER} {' '.join(source)}", *build_lines()] if source else []
    out.write_text("".join(f"{line}\n" for line in header) + out.read_text())
    served = SERVED_ONLY.get(spec.name, ALSO_SERVED)
    for python, platform in served:
        # Fails if some pin has no wheel there.
        compile_(out.relative_to(ROOT), python, platform, "--no-deps", *allow)
    print(f"locked {out.relative_to(ROOT)} (also checked for {served})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--upgrade", action="store_true", help="take newer releases")
    p.add_argument("specs", nargs="*", type=pathlib.Path, metavar="SPEC",
                   help="lock only these .in files (default: the roles' specs)")
    a = p.parse_args()
    for spec in [s.resolve() for s in a.specs] or SPECS:
        lock(spec, a.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
