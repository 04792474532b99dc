"""Services run, and only nginx faces the network."""
import pytest

LOOPBACK = ("127.0.0.1", "::1")


@pytest.mark.parametrize("unit", ["jupyterhub", "jupyterhub-proxy", "nginx"])
def test_service_active_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running
    assert service.is_enabled


def listeners(host):
    """(address, port) of every listening TCP socket in the host."""
    out = host.check_output("ss -Htln")
    result = []
    for line in out.splitlines():
        local = line.split()[3]
        addr, _, port = local.rpartition(":")
        result.append((addr.strip("[]").split("%")[0], int(port)))
    return result


def test_only_web_ports_face_the_network(host):
    public = {port for addr, port in listeners(host) if addr not in LOOPBACK}
    assert public <= {22, 80, 443}, f"unexpected public listeners: {public}"
    assert {80, 443} <= public


@pytest.mark.parametrize("port", [8000, 8001, 8081])
def test_hub_and_proxy_listen_on_loopback_only(host, port):
    addrs = {addr for addr, p in listeners(host) if p == port}
    assert addrs == {"127.0.0.1"}


def test_system_is_not_degraded(host):
    assert host.run("systemctl is-system-running").stdout.strip() == "running", \
        host.run("systemctl --failed --no-legend").stdout


def test_idle_culler_runs_with_the_inventory_timeout(host):
    # A hub-managed service: the hub starts it and restarts it with itself.
    out = host.run("pgrep -af jupyterhub_idle_culler").stdout
    assert "--timeout=3600" in out, out
