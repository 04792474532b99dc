"""roles/metrics' collector of the user servers' figures, rendered as the role
renders it and run against cgroup trees laid out as cgroup v2 and v1 lay
them out: each server's figures under its name, guests summed and never
named, a unit that stopped meanwhile left out. Then what the role tells
Prometheus and the exporter: loopback, the retention, the hub's token."""
import os
import subprocess
import sys

import pytest
import yaml

from test_templates import render


def write(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def unified(unit, current, peak, limit, usec, oom):
    d = f"system.slice/{unit}"
    return {f"{d}/memory.current": f"{current}\n", f"{d}/memory.peak": f"{peak}\n",
            f"{d}/memory.max": f"{limit}\n", f"{d}/cpu.stat": f"usage_usec {usec}\nuser_usec 1\n",
            f"{d}/memory.events": f"low 0\nhigh 0\nmax 3\noom 1\noom_kill {oom}\n"}


def legacy(unit, usage, peak, limit, nsec, oom):
    return {f"systemd/system.slice/{unit}/tasks": "1\n",
            f"memory/system.slice/{unit}/memory.usage_in_bytes": f"{usage}\n",
            f"memory/system.slice/{unit}/memory.max_usage_in_bytes": f"{peak}\n",
            f"memory/system.slice/{unit}/memory.limit_in_bytes": f"{limit}\n",
            f"memory/system.slice/{unit}/memory.oom_control": f"oom_kill_disable 0\nunder_oom 0\noom_kill {oom}\n",
            f"cpu,cpuacct/system.slice/{unit}/cpuacct.usage": f"{nsec}\n"}


def collect(tmp_path, root):
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "hdfhub-server-metrics"
    script.write_text(render("metrics", "hdfhub-server-metrics.py.j2",
                             __metrics_textfile_dir=str(out)))
    subprocess.run([sys.executable, str(script)], check=True, timeout=60,
                   env={**os.environ, "HDFHUB_SYS_ROOT": str(root)})
    assert [p.name for p in out.iterdir()] == ["hdfhub_servers.prom"]  # no temporary left
    samples = {}
    for line in (out / "hdfhub_servers.prom").read_text().splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_cgroup_v2(tmp_path):
    cgroup = tmp_path / "root/sys/fs/cgroup"
    write(cgroup, {"cgroup.controllers": "cpu memory\n",
                   **unified("jupyter-alice.service", 200_000_000, 300_000_000, 536870912, 2_500_000, 1),
                   **unified("jupyter-guest-1a2b.service", 100, 150, "max", 1_000_000, 0),
                   **unified("jupyter-guest-3c4d.service", 50, 60, "max", 500_000, 2),
                   # Not a user server.
                   **unified("nginx.service", 1, 1, "max", 1, 0)})
    # A server that stopped while the collector looked: its directory only.
    (cgroup / "system.slice/jupyter-bob.service").mkdir()
    s = collect(tmp_path, tmp_path / "root")
    assert s['hdfhub_servers{kind="user"}'] == 1 and s['hdfhub_servers{kind="guest"}'] == 2
    assert s['hdfhub_server_memory_bytes{user="alice"}'] == 200_000_000
    assert s['hdfhub_server_memory_peak_bytes{user="alice"}'] == 300_000_000
    assert s['hdfhub_server_memory_limit_bytes{user="alice"}'] == 536870912
    assert s['hdfhub_server_cpu_seconds_total{user="alice"}'] == pytest.approx(2.5)
    assert s['hdfhub_server_oom_kills{user="alice"}'] == 1
    assert s['hdfhub_server_memory_bytes{user="(guests)"}'] == 150
    assert s['hdfhub_server_oom_kills{user="(guests)"}'] == 2
    # No limit ("max") is no sample, for one guest and so for their sum.
    assert 'hdfhub_server_memory_limit_bytes{user="(guests)"}' not in s
    assert not any("guest-" in name or "bob" in name or "nginx" in name for name in s)


def test_cgroup_v1(tmp_path):
    cgroup = tmp_path / "root/sys/fs/cgroup"
    write(cgroup, {**legacy("jupyter-alice.service", 7_000_000, 9_000_000, 536870912, 3 * 10**9, 0),
                   **legacy("jupyter-carol.service", 1, 2, 9223372036854771712, 10**9, 1)})
    s = collect(tmp_path, tmp_path / "root")
    assert s['hdfhub_servers{kind="user"}'] == 2 and s['hdfhub_servers{kind="guest"}'] == 0
    assert s['hdfhub_server_memory_peak_bytes{user="alice"}'] == 9_000_000
    assert s['hdfhub_server_cpu_seconds_total{user="alice"}'] == pytest.approx(3.0)
    assert s['hdfhub_server_memory_limit_bytes{user="alice"}'] == 536870912
    assert 'hdfhub_server_memory_limit_bytes{user="carol"}' not in s  # v1's "no limit"
    assert s['hdfhub_server_oom_kills{user="carol"}'] == 1


def test_cgroup_v1_without_cpuacct_groups_counts_the_processes_cpu(tmp_path):
    """Hosts whose cpuacct hierarchy has no group per unit (as in the test
    containers): the CPU time of the unit's processes, from /proc."""
    root = tmp_path / "root"
    unit = "jupyter-alice.service"
    files = {k: v for k, v in legacy(unit, 1, 2, 536870912, 0, 0).items() if "cpuacct" not in k}
    ticks = os.sysconf("SC_CLK_TCK")
    files.update({f"systemd/system.slice/{unit}/cgroup.procs": "41\n42\n43\n"})
    write(root / "sys/fs/cgroup", files)
    # utime stime cutime cstime are the 14th to 17th fields; the name may hold
    # spaces and parentheses. 43 has exited.
    write(root / "proc", {
        "41/stat": f"41 (jupyterhub-si) S 1 41 41 0 -1 4194560 1 0 0 0 {ticks} {ticks} 0 0 20 0 1\n",
        "42/stat": f"42 (python (x) y) S 41 41 41 0 -1 4194560 1 0 0 0 {ticks} 0 {ticks} {ticks} 20\n"})
    s = collect(tmp_path, root)
    assert s['hdfhub_server_cpu_seconds_total{user="alice"}'] == pytest.approx(5.0)


def test_prometheus_and_the_exporter_are_told_loopback_and_the_retention():
    prometheus = render("metrics", "prometheus.default.j2", hdfhub_metrics_retention_days=90)
    exporter = render("metrics", "node-exporter.default.j2",
                      __metrics_textfile_dir="/var/lib/prometheus/node-exporter")
    assert ('ARGS="--web.listen-address=127.0.0.1:9090 --storage.tsdb.retention.time=90d"'
            in prometheus.splitlines())
    assert ('ARGS="--web.listen-address=127.0.0.1:9100 '
            '--collector.textfile.directory=/var/lib/prometheus/node-exporter"' in exporter.splitlines())


def test_prometheus_scrapes_the_hub_with_the_token_file():
    config = yaml.safe_load(render("metrics", "prometheus.yml.j2", metrics_hub_address="127.0.0.1:8081"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "node", "jupyterhub"}
    hub = jobs["jupyterhub"]
    assert hub["metrics_path"] == "/hub/metrics"
    assert hub["authorization"] == {"credentials_file": "/etc/prometheus/hdfhub-hub-token"}
    assert hub["static_configs"] == [{"targets": ["127.0.0.1:8081"]}]
    assert config["global"]["scrape_interval"] == "15s"
