"""ACME mode against a real test CA (Pebble): the hub serves a certificate that
chains to Pebble's root, renewal reaches nginx, and a CA out of reach stops the
run in preflight with nginx untouched."""
import hashlib
import socket
import ssl

import urllib3

from conftest import DOMAIN, HTTP, HTTPS_PORT, run_site, wait_for

LIVE = f"/etc/letsencrypt/live/{DOMAIN}"


def served_certificate():
    """The DER certificate nginx presents for DOMAIN, unverified."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=DOMAIN) as tls:
            return tls.getpeercert(binary_form=True)


def fingerprint():
    return hashlib.sha256(served_certificate()).hexdigest()


def login_page(ca_file):
    """GET the login page by the hub's name, verified against Pebble's root only."""
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca_file, retries=False)
    return http.request("GET", f"https://{DOMAIN}:{HTTPS_PORT}/hub/login", redirect=False)


def test_served_certificate_chains_to_ca_file(ca_file):
    response = login_page(ca_file)
    assert response.status == 200
    # A publicly trusted certificate: HSTS is on.
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_served_certificate_is_certbots(host):
    served = ssl.DER_cert_to_PEM_cert(served_certificate()).strip()
    leaf = host.file(f"{LIVE}/cert.pem").content_string.strip()
    assert served == leaf
    # nginx reads certbot's live files through the links the role made.
    for link, target in (("server.crt", "fullchain.pem"), ("server.key", "privkey.pem")):
        assert host.check_output(f"readlink /etc/hdfhub/tls/{link}") == f"{LIVE}/{target}"


def test_port_80_serves_challenges_and_redirects_the_rest(host):
    http = urllib3.PoolManager(retries=False)
    token = "verify-token"
    challenges = "/var/www/hdfhub-acme/.well-known/acme-challenge"
    host.run_test(f"mkdir -p {challenges} && echo {token} > {challenges}/{token}")
    try:
        challenge = http.request("GET", f"{HTTP}/.well-known/acme-challenge/{token}",
                                 headers={"Host": DOMAIN}, redirect=False)
        assert (challenge.status, challenge.data.strip()) == (200, token.encode())
    finally:
        host.run_test(f"rm {challenges}/{token}")
    other = http.request("GET", f"{HTTP}/hub/", headers={"Host": DOMAIN}, redirect=False)
    assert other.status == 301
    assert other.headers["Location"] == f"https://{DOMAIN}/hub/"


def test_renewal_is_scheduled_with_a_reload_hook(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running
    renewal = host.file(f"/etc/letsencrypt/renewal/{DOMAIN}.conf").content_string
    assert "server = https://localhost:14000/dir" in renewal
    assert "renew_hook = nginx -t -q && systemctl reload nginx" in renewal


def test_renewal_dry_run_succeeds(host):
    host.run_test("certbot renew --dry-run --no-random-sleep-on-renew")


def test_forced_renewal_reaches_nginx(host, ca_file):
    before = fingerprint()
    host.run_test("certbot renew --force-renewal --no-random-sleep-on-renew")
    # The deploy hook reloads nginx; the new certificate is served soon after.
    wait_for(lambda: fingerprint() != before, timeout=30, what="the renewed certificate")
    assert login_page(ca_file).status == 200


def test_unreachable_ca_stops_the_run_in_preflight(host, ca_file):
    before = fingerprint()
    conf = host.file("/etc/nginx/conf.d/hdfhub.conf").content_string
    run = run_site({"hdfhub_acme_directory": "https://localhost:9/dir"})
    failures = [line for line in run.stdout.splitlines() if line.startswith("fatal:")]
    assert run.returncode != 0 and len(failures) == 1, run.stdout[-3000:]
    assert "hdfhub_acme_directory https://localhost:9/dir cannot be reached" in failures[0]
    # nginx_tls's own checks (its validate.yml, which preflight runs) stop it.
    assert "TASK [hdfgroup.hdfhub.nginx_tls : Check the ACME CA's answer]" in run.stdout
    # Nothing after preflight ran (the first role's first task, for one), and
    # nginx serves as before.
    assert "Install the CA certificate tools" not in run.stdout
    assert host.file("/etc/nginx/conf.d/hdfhub.conf").content_string == conf
    assert host.service("nginx").is_running
    assert fingerprint() == before
    assert login_page(ca_file).status == 200

