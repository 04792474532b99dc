#!/usr/bin/env python3
"""Install the pinned Ansible inside a Vagrant VM, for the ansible_local provisioner.

Run by the Vagrantfile as root in the guest, before Ansible. Debian's own
Ansible is older than the roles need, and Vagrant's pip install mode pulls in
a compiler; so this makes a venv in /opt/hdfhub/ansible with the pins of
requirements.txt, installed by uv (pinned in requirements-dev.txt), and links
its commands into /usr/local/bin. It does nothing when the venv already
matches the pins.

CA certificates given as arguments (PEM files in the guest) are trusted for
these downloads only; the playbook's ca_trust role installs them for good.
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
VENV = pathlib.Path("/opt/hdfhub/ansible")
COMMANDS = ("ansible", "ansible-playbook", "ansible-galaxy", "ansible-config")
SYSTEM_CAS = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")


def run(*cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def main(extra_cas):
    reqs = (REPO / "requirements.txt").read_bytes()
    uv_pin = next(line for line in (REPO / "requirements-dev.txt").read_text().splitlines()
                  if line.startswith("uv=="))
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(reqs + uv_pin.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        print(f"Ansible in {VENV} matches requirements.txt")
        return 0
    if not list(pathlib.Path("/usr/share/python-wheels").glob("pip-*.whl")):  # python3-venv has it
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3-venv",
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as bundle:
        bundle.write(SYSTEM_CAS.read_text())
        for ca in extra_cas:
            bundle.write(pathlib.Path(ca).read_text())
        bundle.flush()
        env = {**os.environ, "SSL_CERT_FILE": bundle.name, "PIP_CERT": bundle.name}
        # pip runs straight from Debian's wheel to fetch uv: installing pip
        # into the venv takes minutes under emulation.
        run(sys.executable, "-m", "venv", "--clear", "--without-pip", VENV)
        pip = next(pathlib.Path("/usr/share/python-wheels").glob("pip-*.whl"))
        run(VENV / "bin/python", pip / "pip", "install", "--quiet", "--disable-pip-version-check",
            uv_pin, env=env)
        # No bytecode compilation: Python writes .pyc for the modules it uses
        # as it goes, which under emulation is far cheaper than all of them.
        run(VENV / "bin/uv", "pip", "install", "--quiet", "--python", VENV / "bin/python",
            "--requirement", REPO / "requirements.txt", env=env)
    for name in COMMANDS:
        link = pathlib.Path("/usr/local/bin", name)
        link.unlink(missing_ok=True)
        link.symlink_to(VENV / "bin" / name)
    stamp.write_text(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
