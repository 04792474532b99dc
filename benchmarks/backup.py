#!/usr/bin/env python3
"""Backup benchmark: how long a backup and a restore take, and how big the
repository gets, for a given amount of user data.

Boots a fresh Debian 12 systemd container, converges playbooks/site.yml
inside it (inventories/localhost, as benchlib does; the restic repository is
the default local one, /var/backups/hdfhub), writes --megabytes of random
data (incompressible: the worst case for size) into a hub user's home in
10 MB files, then measures:
  data_mb            user data written
  backup_s           first backup (hdfhub-backup.service: database copy,
                     restic backup, forget --prune)
  backup_again_s     second backup, nothing changed
  backup_playbook_s  playbooks/backup.yml (adds Ansible, preflight, stats)
  repo_mb            repository size on disk after the backups
  restore_s          playbooks/restore.yml after the data was deleted (stops
                     the hub, restores, fixes owners, starts the hub)
  restore_ok         the restored files' sha256 equal the originals'

  python3 benchmarks/backup.py [--megabytes 200] [--keep]
"""
import sys
import time

import benchlib

USER = "jupyter-admin"
DATA = f"/home/{USER}/bench-data"


def container_sh(name, script):
    return benchlib.sh("podman", "exec", name, "sh", "-c", script, capture=True).stdout


def timed(name, script):
    start = time.monotonic()
    container_sh(name, script)
    return time.monotonic() - start


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--megabytes", type=int, default=200, help="user data to back up (MB)")
    p.add_argument("--keep", action="store_true", help="leave the container running")
    a = p.parse_args()

    boot_s = benchlib.start_container(a.name, a.port)
    try:
        cold = benchlib.converge(a.name)
        if cold[2]:
            raise SystemExit("the converge failed")
        files, rest = divmod(a.megabytes, 10)
        sizes = [10] * files + ([rest] if rest else [])
        container_sh(a.name, f"mkdir -p {DATA} && " + " && ".join(
            f"head -c {mb}M /dev/urandom > {DATA}/f{i:04d}.bin" for i, mb in enumerate(sizes))
            + f" && chown -R {USER}: {DATA}")
        sums = container_sh(a.name, f"cd {DATA} && sha256sum *")
        backup_s = timed(a.name, "systemctl start hdfhub-backup.service")
        backup_again_s = timed(a.name, "systemctl start hdfhub-backup.service")
        playbook = benchlib.converge(a.name, playbook="playbooks/backup.yml")
        repo_mb = int(container_sh(a.name, "du -sm /var/backups/hdfhub").split()[0])
        container_sh(a.name, f"rm -rf {DATA}")
        restore = benchlib.converge(a.name, playbook="playbooks/restore.yml")
        restored = container_sh(a.name, f"cd {DATA} && sha256sum *")
    finally:
        if not a.keep:
            benchlib.stop_container(a.name)

    result = {"benchmark": "backup", "image": benchlib.IMAGE, "boot_s": round(boot_s, 1),
              "cold_converge_s": round(cold[0], 1),
              "data_mb": sum(sizes), "backup_s": round(backup_s, 1),
              "backup_again_s": round(backup_again_s, 1),
              "backup_playbook_s": round(playbook[0], 1), "repo_mb": repo_mb,
              "restore_s": round(restore[0], 1), "restore_ok": restored == sums,
              "slowest_restore": restore[3]}
    benchlib.report(result, ["data_mb", "backup_s", "backup_again_s", "backup_playbook_s",
                             "repo_mb", "restore_s", "restore_ok"],
                    [("slowest tasks, restore", restore[3])])
    return 0 if result["restore_ok"] and not playbook[2] and not restore[2] else 1


if __name__ == "__main__":
    sys.exit(main())
