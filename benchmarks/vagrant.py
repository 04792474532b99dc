#!/usr/bin/env python3
"""`vagrant up` on this machine: box build, boot, first provision,
re-provision, spawn latency inside the VM.

Runs the opt-in test tier `tools/test.py vagrant` (tests/vagrant/), which
measures these while it checks the VM, and prints its figures. Under QEMU
without KVM (as here) the VM runs in software emulation, so the absolute
times are those of the slowest laptop; the ratios compare steps of one run.
Takes about an hour on 2 cores.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from benchlib import ROOT, ratio, report


def main():
    with tempfile.TemporaryDirectory() as tmp:
        figures = pathlib.Path(tmp, "figures.json")
        rc = subprocess.run([sys.executable, ROOT / "tools/test.py", "vagrant"], cwd=ROOT,
                            env={**os.environ, "HDFHUB_VAGRANT_FIGURES": str(figures)}).returncode
        if not figures.exists():
            sys.exit(f"the vagrant tier ended (exit code {rc}) before measuring anything")
        result = json.loads(figures.read_text())
    result["tests_passed"] = rc == 0
    if "reprovision_s" in result:
        result["reprovision_over_provision"] = ratio(result["reprovision_s"], result["provision_s"])
    rows = [k for k in ("box_build_s", "box_mb", "boot_s", "provision_s", "reprovision_s",
                        "reprovision_over_provision", "spawn_p50_s", "destroy_s", "tests_passed")
            if k in result]
    report(result, rows)
    return rc


if __name__ == "__main__":
    sys.exit(main())
