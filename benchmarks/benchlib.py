"""Shared plumbing for the benchmarks: a Debian 12 systemd container that the
playbook converges from inside (connection local, as the README's localhost
inventory does), and the figures' JSON-line-plus-table output.

The container mounts this checkout read-only at the same path, so the
playbook and the Ansible in .venv (made by `tools/test.py`) run unchanged
inside it: the host and the image are both Debian 12 with the same Python.
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
VENV = (ROOT / ".venv").resolve()
IMAGE = "localhost/hdfhub-debian12"
NAME = "hdfhub-bench"
HTTPS_PORT = 7443
HOST_CA_DIR = "/usr/local/share/ca-certificates"
# Settings on top of inventories/localhost for every benchmark hub.
BENCH_VARS = ROOT / "benchmarks" / "bench_vars.yml"

TASK_TIME = re.compile(r"^(?P<task>\S.*?) -+ (?P<secs>[0-9.]+)s$")
RECAP = re.compile(r"^\S+\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)")


def sh(*cmd, check=True, capture=False, **kw):
    if capture:
        kw.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = subprocess.run([str(c) for c in cmd], **kw)
    if check and proc.returncode:
        if capture:
            sys.stdout.write(proc.stdout[-5000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}")
    return proc


def environ():
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "molecule/containers.conf"))
    if not (VENV_BIN / "ansible-playbook").exists():
        raise SystemExit("no .venv: run `python3 tools/test.py static` once to make it")


def running(name=NAME):
    proc = sh("podman", "container", "inspect", "--format", "{{.State.Running}}", name,
              check=False, capture=True)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def controller_paths():
    """What Ansible in .venv needs besides the checkout: the venv (unless it
    lies inside the checkout) and its base Python, unless that is the system
    one (the image's Debian 12 has the same)."""
    paths = [VENV]
    cfg = dict(line.split(" = ", 1) for line in (VENV / "pyvenv.cfg").read_text().splitlines()
               if " = " in line)
    prefix = pathlib.Path(cfg["home"]).parent
    if prefix != pathlib.Path("/usr"):
        paths.append(prefix)
    return paths


def start_container(name=NAME, https_port=HTTPS_PORT, network="slirp4netns", volumes=(),
                    root=ROOT):
    """A fresh systemd container; returns seconds until systemd is up. With
    network "none" it has only loopback and publishes nothing; `volumes` are
    more host:container binds; `root` is the checkout it gets (this one)."""
    environ()
    if sh("podman", "image", "exists", IMAGE, check=False).returncode:
        sh(VENV_BIN / "python", ROOT / "tools/build_image.py", "--release", "bookworm")
    sh("podman", "rm", "--force", "--ignore", name, capture=True)
    start = time.monotonic()
    sh("podman", "run", "--detach", "--name", name, "--hostname", name, "--privileged",
       "--systemd=always", "--cgroupns=private", f"--network={network}",
       *([] if network == "none" else ["--publish", f"127.0.0.1:{https_port}:443"]),
       *[a for bind in volumes for a in ("--volume", bind)],
       "--volume", f"{root}:{root}:ro",
       *[a for path in controller_paths() if not path.is_relative_to(root)
         for a in ("--volume", f"{path}:{path}:ro")],
       "--volume", f"{HOST_CA_DIR}:/mnt/host-ca:ro",
       IMAGE, "/sbin/init", capture=True)
    sh("podman", "exec", name, "systemctl", "is-system-running", "--wait", check=False,
       capture=True)
    return time.monotonic() - start


def stop_container(name=NAME):
    sh("podman", "rm", "--force", "--ignore", name, capture=True)


def converge(name=NAME, extra_vars=(), playbook="playbooks/site.yml", root=ROOT):
    """One playbook run inside the container, of the checkout `root`:
    (seconds, changed, failed, slowest 10)."""
    cmd = ["podman", "exec", "--workdir", root,
           "--env", "ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks",
           "--env", "ANSIBLE_FORCE_COLOR=0", name,
           VENV_BIN / "ansible-playbook", "-i", "inventories/localhost",
           "-e", f"@{root / BENCH_VARS.relative_to(ROOT)}", *[a for v in extra_vars for a in ("-e", v)],
           playbook]
    start = time.monotonic()
    proc = sh(*cmd, capture=True)
    took = time.monotonic() - start
    changed = failed = None
    tasks = []
    for line in proc.stdout.splitlines():
        if m := RECAP.match(line.strip()):
            changed, failed = int(m["changed"]), int(m["failed"])
        elif m := TASK_TIME.match(line.strip()):
            tasks.append((m["task"], float(m["secs"])))
    tasks.sort(key=lambda t: -t[1])
    return took, changed, failed, tasks[:10]


def ca_file(name=NAME):
    """The hub's local CA, copied out of the container, for TLS clients here."""
    path = pathlib.Path("/tmp") / f"{name}-ca.crt"
    proc = sh("podman", "exec", name, "cat", "/etc/hdfhub/tls/ca.crt", capture=True)
    path.write_text(proc.stdout)
    return str(path)


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values):
    return {"n": len(values), "p50": round(statistics.median(values), 3),
            "p95": round(percentile(values, 95), 3)} if values else {"n": 0}


def report(result, rows, tables=()):
    """One JSON line, then a readable table of `rows` and named lists of (label, value)."""
    print(json.dumps(result))
    width = max(len(k) for k in rows) + 2
    print(f"\n{'figure':<{width}}{'value':>12}")
    for key in rows:
        print(f"{key:<{width}}{result[key]!s:>12}")
    for label, items in tables:
        print(f"\n{label}:")
        for text, value in items:
            print(f"  {value:8.1f} s  {text}")


# --- Helpers for the spawn, load and TLS benchmarks (against a kept hub) ---

# The environment that runs user servers; it has requests and websocket-client
# too, so clients that must run inside the container are piped into it.
ENV = "/opt/hdfhub/envs/hdf5"
ENV_PYTHON = f"{ENV}/bin/python"


def parser(doc):
    """An argument parser with the options every benchmark shares: the
    container and the loopback port of its nginx."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default=NAME, help="container name")
    p.add_argument("--port", type=int, default=HTTPS_PORT,
                   help="loopback port of the container's nginx")
    return p


def require_running(name=NAME):
    if not running(name):
        raise SystemExit(f"container {name} is not running: run "
                         "`python3 benchmarks/converge.py --keep` first")


def hub_url(port=HTTPS_PORT):
    # localhost, not 127.0.0.1: the name the local CA's certificate covers.
    return f"https://localhost:{port}"


def hubclient():
    """tools/hubclient.py, the client the verify tests use too."""
    tools = str(ROOT / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import hubclient as module
    return module


def container_python(name, script, *args, timeout=None):
    """Run `script` (source text) with the container's environment Python; its stdout."""
    proc = subprocess.run(["podman", "exec", "-i", name, ENV_PYTHON, "-", *map(str, args)],
                          input=script, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"in-container script failed ({proc.returncode}): "
                           f"{proc.stderr[-2000:]}")
    return proc.stdout


def mem_available_mb():
    """This machine's MemAvailable (the container shares its memory)."""
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def print_counts(label, counts):
    """A named list of (label, count) after `report`'s table."""
    print(f"\n{label}:")
    for text, value in counts:
        print(f"  {value:8}  {text}")
