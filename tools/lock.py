#!/usr/bin/env python3
"""Regenerate the pinned lock files from their specs.

Each `<name>.in` next to a lock is the single source of that package list;
`<name>.lock` is generated from it, pinned for the Python of the target
release (Debian 12 ships 3.11) and wheels only, so a converge never compiles.
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


def lock(spec: pathlib.Path, upgrade: bool) -> None:
    out = spec.with_suffix(".lock")
    cmd = [sys.executable, "-m", "uv", "pip", "compile", str(spec.relative_to(ROOT)),
           "--python-version", TARGET_PYTHON, "--python-platform", TARGET_PLATFORM,
           "--only-binary", ":all:", "--no-header", "--quiet",
           "-o", str(out.relative_to(ROOT))]
    if upgrade:
        cmd.append("--upgrade")
    subprocess.run(cmd, check=True, cwd=ROOT)
    print(f"locked {out.relative_to(ROOT)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--upgrade", action="store_true", help="take newer releases")
    a = p.parse_args()
    for spec in SPECS:
        lock(spec, a.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
