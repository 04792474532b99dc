#!/usr/bin/env python3
"""A git repository of lesson notebooks, for the tests of pre-pulled
repositories (hdfhub_featured_repos): `lessons_repo.py BARE` makes the bare
repository BARE with one lesson on branch main; `--broken` adds a commit
whose new notebook fails, as a lesson can when an environment lacks a
package. The lesson writes into its own directory, as lessons do."""
import argparse
import json
import pathlib
import subprocess
import tempfile

LESSON = """import h5py
import numpy as np

with h5py.File("lesson.h5", "w") as f:
    f["squares"] = np.arange(12) ** 2
with h5py.File("lesson.h5", "r") as f:
    print("sum of squares:", int(f["squares"][()].sum()))"""
BROKEN = "import a_package_no_environment_has"


def notebook(source):
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "hdf5", "display_name": "Python 3 (HDF5)",
                                    "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": source.splitlines(keepends=True)}],
    }, indent=1) + "\n"


def git(*args, cwd=None):
    subprocess.run(["git", "-c", "user.name=hdfhub tests", "-c", "user.email=tests@hub.test",
                    *args], cwd=cwd, check=True, capture_output=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("bare", type=pathlib.Path)
    p.add_argument("--broken", action="store_true", help="add a commit whose notebook fails")
    a = p.parse_args()
    if not a.bare.exists():
        git("init", "--quiet", "--bare", "--initial-branch=main", str(a.bare))
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp) / "work"
        git("clone", "--quiet", str(a.bare.resolve()), str(work))
        (work / "intro").mkdir(exist_ok=True)
        (work / "intro" / "squares.ipynb").write_text(notebook(LESSON))
        if a.broken:
            (work / "broken.ipynb").write_text(notebook(BROKEN))
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", "broken lesson" if a.broken else "lessons",
            cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)


if __name__ == "__main__":
    main()
