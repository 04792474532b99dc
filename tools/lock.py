#!/usr/bin/env python3
"""Regenerate the pinned lock files from their specs.

Each `<name>.in` next to a lock is the single source of that package list;
`<name>.lock` is generated from it, pinned for the Python of the target
release (Debian 12 ships 3.11) and wheels only, so a converge never compiles
(FROM_SOURCE names the few pure-Python exceptions).
Run after editing a spec, then commit both files.
"""
import argparse
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = [
    ROOT / "roles/jupyterhub/files/hub.in",
    *sorted((ROOT / "roles/hdf_env/files/pip").glob("*.in")),
]
TARGET_PYTHON = "3.11"
TARGET_PLATFORM = "x86_64-manylinux_2_36"  # glibc of Debian 12
# Every release preflight accepts must find a wheel for every pin as well
# (Debian 13 ships Python 3.13; laptops may be arm64).
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
ALSO_SERVED = [("3.13", "x86_64-manylinux_2_36"), ("3.11", "aarch64-manylinux_2_36"),
               ("3.13", "aarch64-manylinux_2_36")]


def compile_(src: pathlib.Path, python: str, platform: str, *extra: str) -> None:
    subprocess.run([sys.executable, "-m", "uv", "pip", "compile", str(src.relative_to(ROOT)),
                    "--python-version", python, "--python-platform", platform,
                    "--only-binary", ":all:", "--no-header", "--quiet", *extra],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def lock(spec: pathlib.Path, upgrade: bool) -> None:
    out = spec.with_suffix(".lock")
    omit = [arg for name in OMIT.get(spec.name, []) for arg in ("--no-emit-package", name)]
    source = FROM_SOURCE.get(spec.name, [])
    allow = [arg for name in source for arg in ("--no-binary", name)]
    compile_(spec, TARGET_PYTHON, TARGET_PLATFORM, "-o", str(out.relative_to(ROOT)),
             *omit, *allow, *(["--upgrade"] if upgrade else []))
    if source:
        out.write_text(f"{HEADER} {' '.join(source)}\n" + out.read_text())
    for python, platform in ALSO_SERVED:
        # Fails if some pin has no wheel there.
        compile_(out, python, platform, "--no-deps", *allow)
    print(f"locked {out.relative_to(ROOT)} (also checked for {ALSO_SERVED})")


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
