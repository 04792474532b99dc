"""nginx serves the hub over TLS that browsers and Mozilla's profile accept."""
import datetime
import pathlib
import socket
import ssl

import requests
from conftest import HTTP, HTTPS, HTTPS_PORT, TLS_DIR
from sslyze import (CertificateInfoExtraArgument, Scanner, ScanCommandsExtraArguments,
                    ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    MozillaTlsConfiguration, ServerNotCompliantWithTlsConfiguration, TlsConfigurationEnum,
    check_server_against_tls_configuration)


def test_http_redirects_to_https():
    r = requests.get(f"{HTTP}/hub/login", allow_redirects=False, timeout=30)
    assert r.status_code == 301
    assert r.headers["Location"].startswith("https://")
    assert r.headers["Location"].endswith("/hub/login")


def test_login_page_over_tls_chains_to_local_ca(ca_file):
    r = requests.get(f"{HTTPS}/hub/login", verify=ca_file, timeout=30)
    assert r.status_code == 200
    assert "password" in r.text.lower()


def test_untrusted_without_the_ca():
    # The default trust store must not accept a certificate from our local CA.
    try:
        requests.get(f"{HTTPS}/hub/login", timeout=30)
    except requests.exceptions.SSLError:
        return
    raise AssertionError("certificate was trusted without the local CA")


def test_ca_download_serves_the_ca(host, ca_file):
    r = requests.get(f"{HTTPS}/hdfhub-ca.crt", verify=ca_file, timeout=30)
    assert r.status_code == 200
    assert r.text == host.file(f"{TLS_DIR}/ca.crt").content_string
    assert r.headers["Content-Type"] == "application/x-x509-ca-cert"


def test_certificate_names(host):
    text = host.check_output(f"openssl x509 -in {TLS_DIR}/server.crt -noout -ext subjectAltName")
    for name in ("DNS:hub.test", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:192.0.2.10"):
        assert name in text


def sign_with_the_ca(host, name):
    """A certificate for DNS name `name`, signed with the local CA's key on
    the host, as anyone holding that key could; the path of the certificate."""
    base = f"/root/ca-probe-{name}"
    host.run_expect([0], f"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                         f"-nodes -keyout {base}.key -subj /CN={name} "
                         f"-addext subjectAltName=DNS:{name} -out {base}.csr")
    host.run_expect([0], f"openssl x509 -req -in {base}.csr -CA {TLS_DIR}/ca.crt "
                         f"-CAkey {TLS_DIR}/ca.key -CAcreateserial -CAserial {base}.srl "
                         f"-days 30 -copy_extensions copy -out {base}.crt")
    return f"{base}.crt"


def test_the_local_ca_vouches_only_for_the_hub(host):
    """Name constraints (critical): even with the CA's key, a certificate for
    another name does not verify; one for a hub name does."""
    for name, ok in (("hub.test", True), ("example.com", False)):
        r = host.run(f"openssl verify -CAfile {TLS_DIR}/ca.crt {sign_with_the_ca(host, name)}")
        assert (r.rc == 0) is ok, r.stdout + r.stderr
        if not ok:
            assert "permitted subtree violation" in r.stdout + r.stderr


def lifetime_days(host, path):
    out = host.check_output(f"openssl x509 -in {path} -noout -startdate -enddate")
    dates = {k: datetime.datetime.strptime(v, "%b %d %H:%M:%S %Y %Z")
             for k, v in (line.split("=", 1) for line in out.splitlines())}
    return (dates["notAfter"] - dates["notBefore"]).days


def test_the_local_ca_lasts_about_a_year(host):
    """nginx_tls_ca_days (365 by default), not ten years; the server
    certificate does not outlive it."""
    assert lifetime_days(host, f"{TLS_DIR}/ca.crt") == 365
    assert lifetime_days(host, f"{TLS_DIR}/server.crt") <= 365


def test_private_keys_are_root_only(host):
    for key in ("ca.key", "server.key"):
        f = host.file(f"{TLS_DIR}/{key}")
        assert (f.user, f.mode) == ("root", 0o600)


def test_no_tls_1_1():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as sock:
        try:
            ctx.wrap_socket(sock, server_hostname="localhost")
        except (ssl.SSLError, ConnectionResetError):
            return
    raise AssertionError("server accepted TLS 1.1")


def test_mozilla_intermediate_compliant(ca_file):
    location = ServerNetworkLocation("localhost", HTTPS_PORT, ip_address="127.0.0.1")
    extra = ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=pathlib.Path(ca_file)))
    scanner = Scanner()
    scanner.queue_scans([ServerScanRequest(server_location=location,
                                           scan_commands_extra_arguments=extra)])
    [result] = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED
    profile = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    try:
        check_server_against_tls_configuration(result, profile)
        issues = {}
    except ServerNotCompliantWithTlsConfiguration as e:
        issues = e.issues
    # A self-signed hub sends no HSTS on purpose: it would lock out browsers
    # that have not installed the local CA. Everything else must comply.
    issues.pop("hsts_min_age", None)
    assert issues == {}
