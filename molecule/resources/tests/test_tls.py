"""nginx serves the hub over TLS that browsers and Mozilla's profile accept."""
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
