"""Render the roles' templates as Ansible would and check what comes out."""
import json
import pathlib
import re
import shutil
import ssl
import subprocess
import sys
import types

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from traitlets.config import Config

from conftest import ROOT

# Every role's defaults, as site.yml's play sees them (hdfhub's hold the
# site settings); role-prefixed, so the order does not matter.
PLAY_DEFAULTS = {k: v for path in sorted(ROOT.glob("roles/*/defaults/main.yml"))
                 for k, v in (yaml.safe_load(path.read_text()) or {}).items()}


def trusted(value):
    """Mark strings as templates, as Ansible does for files it loads itself."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    return value


# The values site.yml passes each role (its wiring between roles).
SITE_WIRING = {entry["role"].rsplit(".", 1)[-1]: entry.get("vars", {})
               for entry in yaml.safe_load((ROOT / "playbooks/site.yml").read_text())[0]["roles"]}


def role_vars(role, **overrides):
    """The play's defaults, the role's defaults and vars, what site.yml passes
    the role, then overrides."""
    merged = dict(PLAY_DEFAULTS)
    for part in ("defaults", "vars"):
        path = ROOT / "roles" / role / part / "main.yml"
        if path.exists():
            merged.update(yaml.safe_load(path.read_text()) or {})
    merged.update(SITE_WIRING.get(role, {}))
    merged.update(ansible_managed="Managed by test", role_path=str(ROOT / "roles" / role))
    merged.update(overrides)
    return trusted(merged)


def render_var(role, name, **overrides):
    """A role variable, templated as the role sees it."""
    variables = role_vars(role, **overrides)
    return Templar(loader=DataLoader(), variables=variables).template(variables[name])


def render(role, template, **overrides):
    text = (ROOT / "roles" / role / "templates" / template).read_text()
    templar = Templar(loader=DataLoader(), variables=role_vars(role, **overrides))
    return templar.template(trust_as_template(text))


def load_hub_config(text, tmp_path):
    """Execute a rendered jupyterhub_config.py the way JupyterHub does."""
    config = Config()
    loaded = []
    sys.path.insert(0, str(ROOT / "roles/jupyterhub/files"))
    try:
        exec(compile(text, "jupyterhub_config.py", "exec"),
             {"get_config": lambda: config, "load_subconfig": loaded.append})
    finally:
        sys.path.pop(0)
    return config, loaded


SITE = "/opt/hdfhub/hub/lib/python3.11/site-packages"
HUB = dict(hdf_env_root="/opt/hdfhub/envs", hdf_env_server_env="hdf5",
           __jupyterhub_hub_venv={"site_packages": SITE})


AUTHENTICATORS = [
    ("firstuse", "hdfhub.firstuse.FirstUseAuthenticator"),
    ("native", "hdfhub.native.NativeAuthenticator"),
    ("pam", "jupyterhub.auth.PAMAuthenticator"),
    ("ldap", "ldapauthenticator.LDAPAuthenticator"),
    ("github", "oauthenticator.github.GitHubOAuthenticator"),
    ("generic-oauth", "oauthenticator.generic.GenericOAuthenticator"),
]
PRESETS = yaml.safe_load((ROOT / "roles/jupyterhub/vars/main.yml").read_text())["__jupyterhub_authenticators"]


def test_every_authenticator_preset_is_tested():
    """A new preset (roles/jupyterhub/vars/main.yml) needs its line above, and its own tests."""
    assert [name for name, _ in AUTHENTICATORS] == list(PRESETS)


@pytest.mark.parametrize("name", list(PRESETS))
def test_authenticator_preset_is_complete_and_locked(name):
    preset = PRESETS[name]
    assert set(preset) <= {"class", "packages", "network", "accounts", "secrets", "config",
                           "template_paths"}, preset
    assert preset.get("accounts", "hub") in ("hub", "own")
    locked = {line.split("==")[0].lower() for line in
              (ROOT / "roles/jupyterhub/files/hub.lock").read_text().splitlines() if "==" in line}
    assert set(preset.get("packages", [])) <= locked, preset.get("packages")
    # Every secret reaches the hub through the environment only.
    for trait, value in preset.get("config", {}).items():
        if isinstance(value, dict) and "secret" in value:
            assert value["secret"] in preset.get("secrets", {}), trait


@pytest.mark.parametrize("auth,cls", AUTHENTICATORS)
def test_hub_config_selects_authenticator(auth, cls, tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_authenticator=auth,
                  hdfhub_ldap_uri="ldaps://ldap.example.org", **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.JupyterHub.authenticator_class == cls


def test_firstuse_leaves_workshop_names_to_the_converge(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_authenticator="firstuse",
                  hdfhub_workshop_accounts={"count": 2, "prefix": "ws"}, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.FirstUseAuthenticator.provisioned_users == ["ws01", "ws02"]


@pytest.mark.parametrize("guests,paths", [
    (False, [f"{SITE}/nativeauthenticator/templates"]),
    (True, ["/etc/hdfhub/templates", SITE, f"{SITE}/nativeauthenticator/templates"]),
])
def test_native_lets_in_whom_an_admin_approved(guests, paths, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hdfhub.guests", types.SimpleNamespace(
        GROUP="hdfhub-guests", with_guests=lambda cls: cls))
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_authenticator="native",
                  hdfhub_native_minimum_password_length=12, hdfhub_users=["ada"],
                  hdfhub_admins=["organiser"], hdfhub_guests_enabled=guests, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    # Approval, not the inventory's list, decides.
    assert c.Authenticator.allow_all is True and c.Authenticator.allowed_users == ["ada", "organiser"]
    assert c.NativeAuthenticator.open_signup is False
    assert c.NativeAuthenticator.minimum_password_length == 12
    # The admins' and listed people's passwords come from the converge;
    # sign-up refuses their names.
    assert c.NativeAuthenticator.provisioned_users == ["organiser", "ada"]
    assert c.NativeAuthenticator.dbm_path == "/var/lib/hdfhub/passwords.dbm"
    assert c.JupyterHub.template_paths == paths


@pytest.mark.parametrize("uri,port,strategy", [
    ("ldaps://ldap.example.org", None, "on_connect"),
    ("ldap://ldap.example.org:10389", 10389, "before_bind"),
])
def test_ldap_always_encrypts_and_checks_the_certificate(uri, port, strategy, tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_authenticator="ldap",
                  hdfhub_ldap_uri=uri, hdfhub_ldap_allowed_groups=["cn=hdf,dc=example"],
                  hdfhub_ldap_bind_dn_templates=["uid={username},dc=example"], **HUB)
    ldap = load_hub_config(text, tmp_path)[0].LDAPAuthenticator
    assert ldap.server_address == "ldap.example.org"
    assert ("server_port" in ldap) == (port is not None) and ldap.get("server_port") == port
    assert ldap.tls_strategy == strategy
    assert ldap.tls_kwargs["validate"] == ssl.CERT_REQUIRED
    assert ldap.bind_dn_template == ["uid={username},dc=example"]
    assert ldap.allowed_groups == ["cn=hdf,dc=example"] and "lookup_dn" not in ldap


def test_ldap_search_keeps_its_password_out_of_the_config(tmp_path, monkeypatch):
    secret = "s3cret-search"
    overrides = dict(hdfhub_authenticator="ldap", hdfhub_ldap_uri="ldaps://ldap.example.org",
                     hdfhub_ldap_user_search_base="ou=people,dc=example",
                     hdfhub_ldap_search_bind_dn="cn=reader,dc=example",
                     hdfhub_ldap_search_bind_password=secret, **HUB)
    text = render("jupyterhub", "jupyterhub_config.py.j2", **overrides)
    env = render("jupyterhub", "authenticator.env.j2", **overrides)
    assert secret not in text
    assert f'HDFHUB_LDAP_SEARCH_PASSWORD="{secret}"' in env.splitlines()
    monkeypatch.setenv("HDFHUB_LDAP_SEARCH_PASSWORD", secret)
    ldap = load_hub_config(text, tmp_path)[0].LDAPAuthenticator
    assert ldap.lookup_dn is True and ldap.user_search_base == "ou=people,dc=example"
    assert ldap.lookup_dn_user_dn_attribute == ldap.user_attribute == "uid"
    assert ldap.lookup_dn_search_user == "cn=reader,dc=example"
    assert ldap.lookup_dn_search_password == secret


def test_generic_oauth_config(tmp_path, monkeypatch):
    overrides = dict(hdfhub_authenticator="generic-oauth", hdfhub_domain="hub.example.org",
                     hdfhub_oauth_client_id="hub-app", hdfhub_oauth_client_secret="oauth-s3cret",
                     hdfhub_oauth_authorize_url="https://sso.example.org/auth",
                     hdfhub_oauth_token_url="https://sso.example.org/token",
                     hdfhub_oauth_userdata_url="https://sso.example.org/userinfo",
                     hdfhub_oauth_allowed_groups=["hdf"], **HUB)
    text = render("jupyterhub", "jupyterhub_config.py.j2", **overrides)
    env = render("jupyterhub", "authenticator.env.j2", **overrides)
    assert "oauth-s3cret" not in text and 'OAUTH_CLIENT_SECRET="oauth-s3cret"' in env
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "oauth-s3cret")
    c = load_hub_config(text, tmp_path)[0]
    assert c.OAuthenticator.client_id == "hub-app"
    assert c.OAuthenticator.client_secret == "oauth-s3cret"
    assert c.OAuthenticator.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
    assert c.GenericOAuthenticator.token_url == "https://sso.example.org/token"
    assert c.GenericOAuthenticator.allowed_groups == ["hdf"]
    assert c.GenericOAuthenticator.auth_state_groups_key == "oauth_user.groups"


@pytest.mark.parametrize("auth,egress", [("firstuse", False), ("pam", False), ("ldap", True),
                                         ("github", True), ("generic-oauth", True)])
def test_hub_may_reach_out_only_for_a_remote_authenticator(auth, egress):
    unit = render("jupyterhub", "jupyterhub.service.j2", hdfhub_authenticator=auth,
                  **HUB)
    assert ("IPAddressDeny=any" not in unit) == egress


def test_hub_config_carries_limits_users_and_loopback(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_mem_limit="512M",
                  hdfhub_cpu_limit=0.5, hdfhub_admins=["admin"], hdfhub_users=["alice"],
                  hdfhub_cull_idle_timeout=600, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.Spawner.mem_limit == "512M"
    assert c.Spawner.cpu_limit == 0.5
    assert c.Authenticator.admin_users == ["admin"]
    assert c.Authenticator.allowed_users == ["alice", "admin"]
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.hub_bind_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.cleanup_servers is False
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.Spawner.cmd == ["/opt/hdfhub/envs/hdf5/bin/jupyterhub-singleuser"]
    assert "--timeout=600" in c.JupyterHub.services[0]["command"]


def test_shared_content_is_linked_into_homes(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_shared_dir="/data/shared",
                  **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.HdfhubSpawner.home_links == {"shared": "/data/shared"}


def test_admins_may_log_in_when_no_one_else_may(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_admins=["admin"],
                  hdfhub_users=[], hdfhub_allow_all_users=False, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.Authenticator.allowed_users == ["admin"]
    # Being in the hub's database lets no one in: the lists above decide.
    assert c.Authenticator.allow_existing_users is False


def test_hub_config_carries_start_tuning(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", jupyterhub_start_timeout=300,
                  jupyterhub_http_timeout=90, jupyterhub_user_cpu_weight=30, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert (c.Spawner.start_timeout, c.Spawner.http_timeout) == (300, 90)
    assert c.SystemdSpawner.unit_extra_properties == {"CPUWeight": "30"}


def test_guests_wrap_the_site_authenticator_and_have_their_own_culler(tmp_path, monkeypatch):
    """The config's wiring only (hdfhub.guests itself needs JupyterHub; the
    people scenario runs it): the site's authenticator class, by its import
    name, gets the guest handlers, and the guest culler may touch guests only."""
    wrapped = []
    guests = types.ModuleType("hdfhub.guests")
    guests.GROUP = "hdfhub-guests"
    guests.with_guests = lambda cls: wrapped.append(cls) or "hdfhub_guests.Wrapped"
    monkeypatch.setitem(sys.modules, "hdfhub.guests", guests)
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_authenticator="ldap",
                  hdfhub_ldap_uri="ldaps://ldap.example.org", hdfhub_guests_enabled=True,
                  hdfhub_guests_max=7, hdfhub_guests_idle_timeout=600,
                  hdfhub_guests_mem_limit="768M", **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert wrapped == ["ldapauthenticator.LDAPAuthenticator"]
    assert c.JupyterHub.authenticator_class == "hdfhub_guests.Wrapped"
    assert c.GuestsAuthenticator.max_guests == 7
    assert c.HdfhubSpawner.guest_mem_limit == "768M"
    services = {s["name"]: s["command"] for s in c.JupyterHub.services}
    assert {"--cull-users=True", "--timeout=600"} <= set(services["guest-culler"])
    assert not any(arg.startswith("--cull-users") for arg in services["idle-culler"])
    roles = {r["name"]: r.get("scopes") for r in c.JupyterHub.load_roles}
    assert "admin:users!group=hdfhub-guests" in roles["guest-culler"]
    assert all(scope.endswith("!group=hdfhub-guests") for scope in roles["guest-culler"])


def test_public_hsds_adds_the_credentials_page_after_the_guests(tmp_path, monkeypatch):
    """The config's wiring only (hdfhub.hsds needs JupyterHub; the operations
    and people scenarios run it): with HSDS public, the authenticator the
    guests wrapped gets the credentials page too, and the spawner its
    revocation directory."""
    wrapped = []
    guests = types.ModuleType("hdfhub.guests")
    guests.GROUP = "hdfhub-guests"
    guests.with_guests = lambda cls: "hdfhub_guests.Wrapped"
    hsds = types.ModuleType("hdfhub.hsds")
    hsds.with_credentials_page = lambda cls: wrapped.append(cls) or "hdfhub_hsds.Wrapped"
    monkeypatch.setitem(sys.modules, "hdfhub.guests", guests)
    monkeypatch.setitem(sys.modules, "hdfhub.hsds", hsds)
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_guests_enabled=True,
                  jupyterhub_hsds_endpoint="http://127.0.0.1:5101",
                  jupyterhub_hsds_public_endpoint="https://hub.example.org/hsds", **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert wrapped == ["hdfhub_guests.Wrapped"]
    assert c.JupyterHub.authenticator_class == "hdfhub_hsds.Wrapped"
    assert c.HsdsAuthenticator.hsds_public_endpoint == "https://hub.example.org/hsds"
    assert c.HdfhubSpawner.hsds_revoked_dir == "/var/lib/hdfhub-hsds-revoked"


def test_hsds_on_loopback_only_has_no_credentials_page(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2",
                  jupyterhub_hsds_endpoint="http://127.0.0.1:5101", **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.HdfhubSpawner.hsds_endpoint == "http://127.0.0.1:5101"
    assert "HsdsAuthenticator" not in c and "hsds" not in c.JupyterHub.authenticator_class


def test_hsds_folder_listings_go_to_their_owners_only():
    """HSDS lists any folder to anyone (GET /domains); the rules nginx puts in
    front of it (hsds_nginx_rules) refuse all but the owner's, /shared/ and
    the administrator's. nginx's PCRE reads the pattern as Python's re does."""
    rules = render_var("hsds", "hsds_nginx_rules")
    pattern = re.search(r'~\* "([^"]+)"', rules).group(1)

    def refused(uri, user, domain):
        return bool(re.search(pattern, f"{uri}:{user}:{domain}", re.IGNORECASE))

    assert not refused("/domains", "alice", "%2Fhome%2Falice%2F")
    assert not refused("/hsds/domains", "alice", "/home/alice/sub/")
    assert not refused("/domains", "bob", "%2Fshared%2F")
    assert not refused("/domains", "HdfhubAdmin", "%2Fhome%2Fbob%2F")
    assert not refused("/", "bob", "%2Fhome%2Falice%2Fx.h5")  # HSDS's ACLs judge that
    assert refused("/domains", "bob", "%2Fhome%2Falice%2F")
    assert refused("/domains", "bob", "%2Fhome%2F")
    assert refused("/domains", "alice", "/home/alicea/")
    assert refused("/domains", "bob", "")
    assert refused("/hsds/domains", "bob", "/home/alice/")


def test_a_public_loopback_service_is_served_over_tls_rate_limited():
    proxy = {"name": "HSDS", "port": 5101, "upstream": "http://unix:/run/hdfhub-hsds/sn.sock",
             "public_path": "/hsds/", "rules": "if (-f /var/lib/hdfhub-hsds-revoked/$remote_user) {\n"
             "    return 401;\n}\n"}
    conf = render("nginx_tls", "hdfhub.conf.j2", jupyterhub_proxy_port=8000,
                  nginx_tls_loopback_proxies=[proxy], nginx_tls_service_rate="5r/s",
                  nginx_tls_service_burst=7)
    tls = conf[conf.index("listen 443"):conf.index("listen 127.0.0.1:5101")]
    assert "zone=hdfhub_services:1m rate=5r/s;" in conf
    assert "location ^~ /hsds/ {" in tls and "limit_req zone=hdfhub_services burst=7;" in tls
    assert "proxy_pass http://unix:/run/hdfhub-hsds/sn.sock:/;" in tls
    # Its rules apply on both ways in.
    assert conf.count("        if (-f /var/lib/hdfhub-hsds-revoked/$remote_user) {\n"
                      "            return 401;\n        }\n") == 2
    quiet = render("nginx_tls", "hdfhub.conf.j2", jupyterhub_proxy_port=8000,
                   nginx_tls_loopback_proxies=[{**proxy, "public_path": ""}])
    assert "hdfhub_services" not in quiet and "location ^~ /hsds/" not in quiet


def test_culler_is_off_at_zero(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_cull_idle_timeout=0,
                  hdfhub_admins=["admin"], **HUB)
    c, _ = load_hub_config(text, tmp_path)
    # Only the admin role's users remain, stated so that JupyterHub demotes
    # whom the inventory no longer lists.
    assert c.JupyterHub.services == []
    assert c.JupyterHub.load_roles == [{"name": "admin", "users": ["admin"]}]


def test_prometheus_may_read_metrics_and_nothing_else(tmp_path):
    token = tmp_path / "hub-token"
    token.write_text("a-metrics-token\n")
    on = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_cull_idle_timeout=0,
                jupyterhub_metrics_token_file=str(token), **HUB)
    c, _ = load_hub_config(on, tmp_path)
    assert c.JupyterHub.authenticate_prometheus is True
    assert {"name": "prometheus", "api_token": "a-metrics-token"} in c.JupyterHub.services
    assert {"name": "prometheus", "scopes": ["read:metrics"], "services": ["prometheus"]} \
        in c.JupyterHub.load_roles
    off, _ = load_hub_config(render("jupyterhub", "jupyterhub_config.py.j2", **HUB), tmp_path)
    assert off.JupyterHub.authenticate_prometheus is True
    assert all(s["name"] != "prometheus" for s in off.JupyterHub.services)


def test_argument_specs_describe_without_jinja():
    """Ansible templates a role's argument spec when the role starts, so Jinja
    in a description would stop every converge there."""
    def jinja_in(options, where):
        for name, spec in (options or {}).items():
            text = spec.get("description", "")
            text = " ".join(text) if isinstance(text, list) else text
            if "{{" in text or "{%" in text:
                yield f"{where}.{name}"
            yield from jinja_in(spec.get("options"), f"{where}.{name}")
    found = [hit for path in sorted(ROOT.glob("roles/*/meta/argument_specs.yml"))
             for entry, spec in yaml.safe_load(path.read_text())["argument_specs"].items()
             for hit in jinja_in(spec.get("options"), f"{path.parts[-3]}:{entry}")]
    assert not found


def test_kernelspec_is_valid_json():
    env = {"name": "hdf5", "display_name": 'Python 3 "HDF5"'}
    spec = json.loads(render("hdf_env", "kernel.json.j2", item=env,
                             hdf_env_root="/opt/hdfhub/envs"))
    assert spec["display_name"] == 'Python 3 "HDF5"'
    assert spec["argv"][0] == "/opt/hdfhub/envs/hdf5/bin/python"
    assert "{connection_file}" in spec["argv"]


def test_server_kernel_config_lists_only_our_envs():
    envs = [{"name": "hdf5", "display_name": "A"}, {"name": "lesson2", "display_name": "B"}]
    text = render("hdf_env", "jupyter_server_config.py.j2", hdf_env_environments=envs)
    c = Config()
    exec(compile(text, "jupyter_server_config.py", "exec"), {"get_config": lambda: c})
    assert c.KernelSpecManager.allowed_kernelspecs == ["hdf5", "lesson2"]
    assert c.KernelSpecManager.ensure_native_kernel is False
    assert c.MappingKernelManager.default_kernel_name == "hdf5"


@pytest.mark.parametrize("port,target", [(443, "https://$host$request_uri"),
                                         (8443, "https://$host:8443$request_uri")])
def test_redirect_keeps_the_public_port(port, target):
    conf = render("nginx_tls", "hdfhub.conf.j2", nginx_tls_public_https_port=port,
                  jupyterhub_proxy_port=8000)
    assert f"return 301 {target};" in conf


@pytest.mark.parametrize("mode,hsts", [("selfsigned", False), ("provided", True)])
def test_hsts_only_with_a_trusted_certificate(mode, hsts):
    conf = render("nginx_tls", "hdfhub.conf.j2", hdfhub_tls_mode=mode, jupyterhub_proxy_port=8000)
    assert ("Strict-Transport-Security" in conf) is hsts


def test_certificate_names_are_typed():
    sans = Templar(loader=DataLoader(), variables=role_vars(
        "nginx_tls", hdfhub_domain="hub.test", hdfhub_extra_names=["192.0.2.1", "alt.test", "::1"],
    )).template(trust_as_template("{{ __nginx_tls_sans }}"))
    assert sans == ["DNS:hub.test", "DNS:localhost", "IP:127.0.0.1", "IP:192.0.2.1",
                    "DNS:alt.test", "IP:::1"]


def test_hub_and_env_pin_the_same_jupyterhub():
    def pin(path):
        for line in pathlib.Path(path).read_text().splitlines():
            if line.startswith("jupyterhub=="):
                return line
        raise AssertionError(f"no jupyterhub pin in {path}")
    assert pin(ROOT / "roles/jupyterhub/files/hub.lock") == \
        pin(ROOT / "roles/hdf_env/files/pip/hdf5.lock")


@pytest.mark.parametrize("auth,template,create", [("firstuse", "jupyter-{USERNAME}", True),
                                                   ("pam", "{USERNAME}", False)])
def test_pam_users_run_as_their_own_accounts(auth, template, create, tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_authenticator=auth, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.SystemdSpawner.username_template == template
    assert c.SystemdSpawner.unit_name_template == "jupyter-{USERNAME}"
    assert c.HdfhubSpawner.get("create_accounts", True) is create


def test_login_rate_limit_is_configurable():
    conf = render("nginx_tls", "hdfhub.conf.j2", jupyterhub_proxy_port=8000,
                  nginx_tls_login_rate="10r/m", nginx_tls_login_burst=3)
    assert "zone=hdfhub_login:1m rate=10r/m;" in conf
    assert "limit_req zone=hdfhub_login burst=3;" in conf
    assert "limit_req_status 429;" in conf


def test_tls_defaults_are_mozilla_intermediate():
    conf = render("nginx_tls", "hdfhub.conf.j2", jupyterhub_proxy_port=8000)
    assert "    ssl_protocols TLSv1.2 TLSv1.3;\n" in conf
    assert "    ssl_ecdh_curve X25519:prime256v1:secp384r1;\n" in conf
    assert ("    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;\n") in conf


def test_tls_protocols_and_ciphers_are_settings():
    conf = render("nginx_tls", "hdfhub.conf.j2", jupyterhub_proxy_port=8000,
                  nginx_tls_protocols=["TLSv1.3"], nginx_tls_ecdh_curves=["X25519"],
                  nginx_tls_ciphers=["ECDHE-RSA-AES256-GCM-SHA384"])
    assert "    ssl_protocols TLSv1.3;\n" in conf
    assert "    ssl_ecdh_curve X25519;\n" in conf
    assert "    ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384;\n" in conf


def test_a_site_template_extends_the_role_template(tmp_path):
    """nginx_tls_site_template: a site's file replaces one block and keeps the rest,
    found the way the template module finds files (the role's templates/ is searched)."""
    site = tmp_path / "site-nginx.conf.j2"
    site.write_text('{% extends "hdfhub.conf.j2" %}\n'
                    '{% block extra %}\n    location = /status { return 204; }\n{% endblock %}\n')
    templar = Templar(loader=DataLoader(), variables=role_vars(
        "nginx_tls", jupyterhub_proxy_port=8000, nginx_tls_site_template=str(site)))
    templar = templar.copy_with_new_env(searchpath=[str(tmp_path), str(ROOT / "roles/nginx_tls/templates")])
    conf = templar.template(trust_as_template(site.read_text()))
    assert "    location = /status { return 204; }\n}" in conf
    assert "    ssl_protocols TLSv1.2 TLSv1.3;\n" in conf
    assert "limit_req zone=hdfhub_login" in conf


@pytest.mark.parametrize("ports,rule", [
    ([22, 80, 443], "tcp dport { 22, 80, 443 } accept"),
    (["8443", 22, 443, 443], "tcp dport { 22, 443, 8443 } accept"),
    ([], None),
])
def test_firewall_opens_only_the_listed_ports(ports, rule):
    conf = render("firewall", "nftables.conf.j2", hdfhub_firewall_allowed_tcp_ports=ports)
    assert conf.startswith("#!/usr/sbin/nft -f\n#")
    assert "policy drop;" in conf
    dports = [line.strip() for line in conf.splitlines() if "dport" in line and "accept" in line]
    assert dports == ([rule] if rule else [])
    # Only root may open the proxy's API on loopback, and only root and nginx
    # its public port; guests may use loopback only.
    assert 'oif lo tcp dport 8001 meta skuid != { "root" } reject with tcp reset' in conf
    assert 'oif lo tcp dport 8000 meta skuid != { "root", "www-data" } reject with tcp reset' in conf
    assert 'oif != lo meta skgid "jupyterhub-guests" reject' in conf


def exposure(path, text):
    """systemd-analyze security's overall exposure of a unit file with this text."""
    path.write_text(text)
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(path)],
                         capture_output=True, text=True).stdout
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", ["jupyterhub.service", "jupyterhub-proxy.service"])
def test_unit_exposure_meets_the_goal(unit, tmp_path):
    """Issue 5's goal: systemd-analyze security rates each unit 5.0 or less."""
    text = render("jupyterhub", f"{unit}.j2",
                  __jupyterhub_node="/opt/hdfhub/hub/bin/node", **HUB)
    assert exposure(tmp_path / unit, text) <= 5.0


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
@pytest.mark.parametrize("node,unit", [("sn", "hdfhub-hsds.service"), ("dn", "hdfhub-hsds-dn@.service")])
def test_hsds_units_have_no_network_and_meet_the_goal(node, unit, tmp_path):
    text = render("hsds", "hsds-node.service.j2", __hsds_node=node,
                  hdfhub_hsds_enabled=True, hdfhub_hsds_data_nodes=3)
    assert "PrivateNetwork=yes" in text and "RestrictAddressFamilies=AF_UNIX\n" in text
    sockets = ",".join(f"http+unix://%%2Frun%%2Fhdfhub-hsds%%2Fdn_{n}.sock" for n in range(3))
    assert f"--dn_urls={sockets}" in text
    if node == "sn":
        assert "Wants=hdfhub-hsds-dn@0.service hdfhub-hsds-dn@1.service hdfhub-hsds-dn@2.service" in text
    assert exposure(tmp_path / unit.replace("@", ""), text) <= 5.0


@pytest.mark.parametrize("endpoint", ["", "http://127.0.0.1:5101"])
def test_hsds_reaches_the_spawner_only_when_on(endpoint, tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", jupyterhub_hsds_endpoint=endpoint, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    if endpoint:
        assert c.HdfhubSpawner.hsds_endpoint == endpoint
        assert c.HdfhubSpawner.hsds_salt_file == "/etc/hdfhub/hsds/salt.env"
        assert c.HdfhubSpawner.hsds_admin_user == "HdfhubAdmin"
    else:
        assert "hsds_endpoint" not in c.HdfhubSpawner


def test_workshop_accounts_may_log_in(tmp_path):
    text = render("jupyterhub", "jupyterhub_config.py.j2", hdfhub_users=["bob"],
                  hdfhub_workshop_accounts={"count": 2, "prefix": "ws"}, **HUB)
    c, _ = load_hub_config(text, tmp_path)
    assert c.Authenticator.allowed_users == ["bob", "ws01", "ws02"]


def test_hdfhub_restic_reads_what_the_unit_reads(tmp_path):
    """A credential with spaces, quotes, '#' and '=' comes back unchanged from
    restic.env through hdfhub-restic's parser, with the repository settings."""
    tricky = 'a b"c#d=e\\f'
    env_file = tmp_path / "restic.env"
    overrides = dict(backup_config_dir=str(tmp_path), backup_cache_dir="/var/cache/r",
                     backup_repository="sftp:host:/srv/r",
                     backup_environment={"AWS_SECRET_ACCESS_KEY": tricky})
    env_file.write_text(render("backup", "restic.env.j2", **overrides))
    namespace = {"__name__": "hdfhub_restic"}
    exec(compile(render("backup", "hdfhub-restic.py.j2", **overrides), "hdfhub-restic", "exec"),
         namespace)
    assert namespace["ENV_FILE"] == str(env_file)
    assert namespace["settings"](namespace["ENV_FILE"]) == {
        "AWS_SECRET_ACCESS_KEY": tricky, "RESTIC_REPOSITORY": "sftp:host:/srv/r",
        "RESTIC_PASSWORD_FILE": f"{tmp_path}/password", "RESTIC_CACHE_DIR": "/var/cache/r"}


def test_backups_leave_out_guests_and_huge_files(tmp_path):
    """The backup script backs up staff homes only (a guest's files go with
    the guest), and passes restic the size limit."""
    text = render("backup", "hdfhub-backup.py.j2", backup_max_file_size="500m",
                  jupyterhub_account_mode="hub", inventory_hostname="hub1",
                  backup_lib_dir=str(ROOT / "roles/jupyterhub/files"))
    namespace = {"__name__": "hdfhub_backup"}
    exec(compile(text, "hdfhub-backup", "exec"), namespace)
    for account in ("jupyter-alice", "jupyter-guest-1a2b3c4d"):
        (tmp_path / account).mkdir()
    namespace["pwd"] = types.SimpleNamespace(
        getpwnam=lambda account: types.SimpleNamespace(pw_dir=str(tmp_path / account)))
    assert namespace["homes"](["alice", "guest-1a2b3c4d"]) == [str(tmp_path / "jupyter-alice")]
    assert namespace["MAX_FILE_SIZE"] == "500m"
    assert '"--exclude-larger-than", MAX_FILE_SIZE' in text
