"""OAuth as far as it goes without a provider on the internet: the hub is
re-converged with generic-oauth (module fixture; it runs after test_ldap.py),
and its real oauthenticator must send a browser to the provider's authorize
endpoint with our client id and callback, while the secret stays root-only.
The provider's side (token exchange, userinfo) cannot be exercised here."""
import urllib.parse

import pytest
import requests

from hubfixtures import ACCOUNT_ROLES, HTTPS, run_site

PROVIDER = "https://sso.example.org/realms/lab/protocol/openid-connect"
SECRET = "verify-oauth-client-secret"


@pytest.fixture(scope="module")
def oauth_hub():
    run = run_site({"hdfhub_authenticator": "generic-oauth",
                    "hdfhub_oauth_client_id": "hdfhub-verify",
                    "hdfhub_oauth_client_secret": SECRET,
                    "hdfhub_oauth_authorize_url": f"{PROVIDER}/auth",
                    "hdfhub_oauth_token_url": f"{PROVIDER}/token",
                    "hdfhub_oauth_userdata_url": f"{PROVIDER}/userinfo"},
                   tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]


def test_login_sends_the_browser_to_the_provider(oauth_hub, ca_file):
    session = requests.Session()
    session.trust_env = False
    r = session.get(f"{HTTPS}/hub/oauth_login", verify=ca_file, allow_redirects=False,
                    timeout=30)
    assert r.status_code == 302
    target = urllib.parse.urlsplit(r.headers["Location"])
    query = urllib.parse.parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{PROVIDER}/auth"
    assert query["client_id"] == ["hdfhub-verify"]
    assert query["redirect_uri"] == ["https://hub.test/hub/oauth_callback"]
    assert query["response_type"] == ["code"] and query["state"][0]


def test_client_secret_is_root_only(oauth_hub, host):
    env = host.file("/var/lib/hdfhub/authenticator.env")
    assert (env.user, env.mode) == ("root", 0o600)
    assert SECRET in env.content_string
    assert SECRET not in host.file("/etc/hdfhub/jupyterhub_config.py").content_string
    assert host.file("/etc/hdfhub/jupyterhub_config.py").mode == 0o644
