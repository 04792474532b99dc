"""Bad input stops playbooks/site.yml in preflight, before any change.

Every case runs the real site playbook against a throwaway podman container
and checks four things:
- the run fails;
- the failing task is one of the checks (preflight's own, or a role's
  tasks/validate.yml, which preflight runs), and no other task ran;
- the host is unchanged: the recap says changed=0, `podman diff` shows the
  same paths before and after the run, and dpkg lists the same packages;
- the failure message names the variable as the inventory wrote it, says
  what is valid, and holds no Ansible-internal error text.

The containers run `sleep`, not systemd. That is cheap, and it works because
the input checks run before the host checks. It also means that input which
preflight wrongly accepts still fails, later, at the systemd check. So the
message checks are what tell these cases apart, and each case expects text
that only the intended check prints.
"""
import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from test_bundle import make_bundle

REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/hdfhub-debian12:latest"
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
# Use the ansible-playbook that belongs to this Python's venv, if it has one.
PLAYBOOK = (shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
            or shutil.which("ansible-playbook"))
ANSIBLE = PLAYBOOK and str(Path(PLAYBOOK).with_name("ansible"))
# For podman, and for Ansible, which reaches the containers through the
# connection the molecule scenarios use (hdfhub_nsenter).
PODMAN_ENV = {**os.environ,
              "CONTAINERS_CONF": str(REPO / "molecule" / "containers.conf"),
              "ANSIBLE_CONNECTION_PLUGINS": str(REPO / "molecule/resources/plugins/connection")}

FEDORA_40_OS_RELEASE = """\
NAME="Fedora Linux"
VERSION="40 (Container Image)"
ID=fedora
VERSION_ID=40
PLATFORM_ID="platform:f40"
PRETTY_NAME="Fedora Linux 40 (Container Image)"
"""

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman"),
    pytest.mark.skipif(PLAYBOOK is None, reason="needs ansible-playbook"),
]


def podman(*args, stdin=None, check=True):
    return subprocess.run(["podman", *args], input=stdin, env=PODMAN_ENV,
                          capture_output=True, text=True, check=check)


class Host:
    """A throwaway container, with an inventory that reaches it."""

    def __init__(self, name, inventory):
        self.name = name
        self.inventory = inventory

    def diff(self):
        """Paths that differ from the image; a task that writes a file adds one.

        A path that an earlier case already changed is not seen again; the
        recap's changed=0 covers that.
        """
        return set(podman("diff", self.name).stdout.splitlines())

    def packages(self):
        """Installed Debian packages and their versions."""
        return podman("exec", self.name, "dpkg-query", "--show",
                      "--showformat=${Package} ${Version} ${db:Status-Abbrev}\\n").stdout


class Run:
    """One ansible-playbook run, parsed from the default callback's output."""

    TASK = re.compile(r"^TASK \[(?P<name>.+?)\] \*+")
    # Printed under each task banner at -vv.
    TASK_PATH = re.compile(r"^task path: (?P<path>.+):\d+$")
    # "[host -> localhost]" when the check runs on the controller (delegated).
    FAILURE = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]\s]+)[^\]]*\].*? => (?P<json>\{.*\})$")

    def __init__(self, host, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.tasks = []          # task names in the order they started
        self.paths = {}          # task name -> the file it is written in
        self.failed_task = None  # the task whose result was the first failure
        self.messages = []       # "msg" of every failed result (loop items too)
        for line in self.stdout.splitlines():
            m = self.TASK.match(line)
            if m:
                self.tasks.append(m["name"])
                continue
            m = self.TASK_PATH.match(line)
            if m and self.tasks:
                self.paths[self.tasks[-1]] = m["path"]
                continue
            m = self.FAILURE.match(line)
            if m and m["host"] == host.name:
                if self.failed_task is None:
                    self.failed_task = self.tasks[-1] if self.tasks else None
                self.messages.append(str(json.loads(m["json"]).get("msg", "")))
        recap = re.search(rf"^{re.escape(host.name)}\s+:\s+ok=\d+\s+changed=(\d+)",
                          self.stdout, re.M)
        self.changed = int(recap[1]) if recap else None

    @property
    def message(self):
        return "\n".join(self.messages)

    def __str__(self):
        return f"rc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@contextlib.contextmanager
def _container(tmp_path_factory, prepare=None):
    """Start a container from IMAGE with `sleep`; remove it afterwards, whatever happens."""
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        subprocess.run([sys.executable, "tools/build_image.py"], cwd=REPO,
                       env=PODMAN_ENV, check=True)
    name = f"hdfhub-preflight-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--rm", "--name", name, IMAGE, "sleep", "1800")
    try:
        inventory = tmp_path_factory.mktemp(name) / "hosts.yml"
        inventory.write_text(json.dumps({"hdfhub": {"hosts": {name: {
            "ansible_connection": "hdfhub_nsenter",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_become": False,
        }}}}))  # JSON is YAML
        host = Host(name, inventory)
        if prepare:
            prepare(host)
        # Connect once, so that Ansible's own temporary files are already in
        # the baseline of host.diff() and the first case is judged like the rest.
        subprocess.run([ANSIBLE, "-i", str(inventory), name, "-m", "ansible.builtin.ping"],
                       cwd=REPO, env=PODMAN_ENV, capture_output=True, check=True)
        yield host
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    """Plain Debian 12 without systemd: every input check runs before the host checks."""
    with _container(tmp_path_factory) as host:
        yield host


@pytest.fixture(scope="module")
def fedora(tmp_path_factory):
    """The same image, but its os-release says Fedora 40, which is not supported."""
    def as_fedora(host):
        # /etc/os-release is a symlink to /usr/lib/os-release; replace both.
        for path in ("/usr/lib/os-release", "/etc/os-release"):
            podman("exec", "-i", host.name, "sh", "-c", f"rm -f {path}; cat > {path}",
                   stdin=FEDORA_40_OS_RELEASE)
    with _container(tmp_path_factory, as_fedora) as host:
        yield host


def run_site(host, tmp_path, extra_vars=None):
    """Run playbooks/site.yml from the repo root, as a user would."""
    # -vv: each task's file, to tell the checks from the roles' work.
    cmd = [PLAYBOOK, "-vv", "-i", str(host.inventory), "playbooks/site.yml"]
    if extra_vars:
        vars_file = tmp_path / "extra_vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", f"@{vars_file}"]
    env = {**PODMAN_ENV,
           "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    return Run(host, proc)


# Texts of Ansible's and Python's own errors, which must never be the message.
INTERNAL = re.compile(r"Traceback|_AnsibleLazy|<class '|object has no attribute|can only concatenate"
                      r"|is undefined|unable to convert|Validation of arguments failed|unexpected templating")

# Preflight's own tasks, each role's validate.yml that it runs, and the
# offline.yml a validate.yml reads the role's locks from (it changes nothing).
CHECK_FILE = re.compile(r"/roles/(preflight/tasks/[^/]+|[a-z_]+/tasks/(validate[a-z_]*|offline))\.yml$")


def is_check(run, task):
    """Whether the task is one of the checks: in preflight, in a validate.yml, or
    Ansible's own check of a role's argument spec when the role starts."""
    return (CHECK_FILE.search(run.paths.get(task, "")) is not None
            or "Validating arguments against arg spec" in task)


def assert_stopped_in_preflight(host, tmp_path, extra_vars, expect):
    """The shared claim: fail in preflight, change nothing, say what is valid."""
    before, packages = host.diff(), host.packages()
    run = run_site(host, tmp_path, extra_vars)
    after = host.diff()
    assert host.packages() == packages, f"packages changed\n{run}"
    assert run.rc != 0, run
    assert run.failed_task and is_check(run, run.failed_task), run
    other = [t for t in run.tasks if t != "Gathering Facts" and not is_check(run, t)]
    assert not other, f"tasks of other roles ran: {other}\n{run}"
    assert run.changed == 0, run
    assert after == before, f"the host changed: {sorted(after ^ before)}\n{run}"
    internal = INTERNAL.search(run.message)
    assert not internal, f"an Ansible-internal message reached the user: {internal[0]!r}\n{run}"
    for text in expect:
        assert text in run.message, f"{text!r} not in the failure message:\n{run.message}\n\n{run}"
    return run


# --- certificates made on the controller, for provided TLS -----------------

def _write_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def _write_selfsigned_cert(path, key, name="hub.example.org"):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def provided_mismatched(tmp_path):
    """A real certificate, and a real key that belongs to a different one."""
    _write_selfsigned_cert(tmp_path / "hub.crt", _write_key(tmp_path / "cert-owner.key"))
    _write_key(tmp_path / "other.key")
    return {"hdfhub_tls_mode": "provided",
            "hdfhub_tls_cert_path": str(tmp_path / "hub.crt"),
            "hdfhub_tls_key_path": str(tmp_path / "other.key")}


def provided_matching(tmp_path):
    _write_selfsigned_cert(tmp_path / "hub.crt", _write_key(tmp_path / "hub.key"))
    return {"hdfhub_tls_mode": "provided",
            "hdfhub_tls_cert_path": str(tmp_path / "hub.crt"),
            "hdfhub_tls_key_path": str(tmp_path / "hub.key")}


# --- the cases --------------------------------------------------------------
# (extra vars, or a function of tmp_path that makes them; texts the failure
# message must contain: the variable, then what is valid or what is wrong)
WHEEL = "wheels/h5py-3.16.0-cp311-cp311-manylinux_2_28_x86_64.whl"
ANY_SHA256 = "0" * 64


def pinned(path):
    """The inventory of a bundle whose sha256 is pinned, as bundle.yml prints it."""
    return {"hdfhub_offline_bundle": str(path),
            "hdfhub_offline_bundle_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def damaged_bundle(tmp_path):
    """A pinned bundle whose h5py wheel is not the one its manifest lists."""
    make_bundle(tmp_path / "bundle.tar", {WHEEL: b"flipped"}, listed={WHEEL: b"original"})
    return pinned(tmp_path / "bundle.tar")


def swapped_bundle(tmp_path):
    """A bundle whose wheel was swapped and its manifest made again to match:
    only the sha256 pinned when it was built tells."""
    make_bundle(tmp_path / "built.tar", {WHEEL: b"original"})
    make_bundle(tmp_path / "bundle.tar", {WHEEL: b"swapped"})
    return {**pinned(tmp_path / "bundle.tar"),
            "hdfhub_offline_bundle_sha256": pinned(tmp_path / "built.tar")[
                "hdfhub_offline_bundle_sha256"]}


BAD_INPUT = [
    pytest.param({"hdfhub_tls_mode": "bogus"},
                 ["hdfhub_tls_mode", "selfsigned, provided"], id="tls_mode-unknown"),
    pytest.param({"hdfhub_tls_mode": "provided"},
                 ["hdfhub_tls_cert_path", "hdfhub_tls_key_path", "existing files"],
                 id="tls_mode-provided-without-files"),
    pytest.param(provided_mismatched,
                 ["hdfhub_tls_key_path", "not the key of the certificate"],
                 id="tls_mode-provided-key-does-not-match-cert"),
    pytest.param({"hdfhub_tls_mode": "acme", "hdfhub_domain": "hub.example.org"},
                 ["hdfhub_acme_email ''", "e-mail address"], id="acme-email-missing"),
    pytest.param({"hdfhub_tls_mode": "acme", "hdfhub_domain": "hub.example.org",
                  "hdfhub_acme_email": "admin@example.org",
                  "hdfhub_acme_directory": "http://ca.example.org/directory"},
                 ["hdfhub_acme_directory 'http://ca.example.org/directory'", "https:// URL"],
                 id="acme-directory-not-https"),
    pytest.param({"hdfhub_tls_mode": "acme", "hdfhub_acme_email": "admin@example.org"},
                 ["hdfhub_domain 'localhost' must have a dot"], id="acme-domain-localhost"),
    pytest.param({"hdfhub_tls_mode": "acme", "hdfhub_domain": "hub.example.org",
                  "hdfhub_acme_email": "admin@example.org",
                  "hdfhub_extra_names": ["hub.example.net", "192.0.2.7"]},
                 ["hdfhub_extra_names may hold no IP addresses", "(192.0.2.7 now)"],
                 id="acme-extra-name-is-an-address"),
    pytest.param({"hdfhub_domain": "bad domain!"},
                 ["hdfhub_domain", "not a valid DNS name", "letters, digits and hyphens"],
                 id="domain-malformed"),
    pytest.param({"hdfhub_extra_names": ["hub:80"]},
                 ["hdfhub_extra_names", "'hub:80'", "neither a DNS name nor an IP address"],
                 id="extra_names-not-a-name"),
    pytest.param({"hdfhub_users": ["Alice Smith"]},
                 ["hdfhub_users", "'Alice Smith'", "lower-case letter"],
                 id="users-not-a-unix-name"),
    pytest.param({"hdfhub_admins": ["root:x"]},
                 ["hdfhub_admins", "'root:x'", "lower-case letter"],
                 id="admins-not-a-unix-name"),
    pytest.param({"hdfhub_users": ["guest-1a2b"]},
                 ["hdfhub_users", "'guest-1a2b'", "kept for guests"],
                 id="users-take-a-guest-name"),
    pytest.param({"hdfhub_admins": ["root"]},
                 ["hdfhub_admins", "'root'", "'root' is never a hub user"],
                 id="admins-root"),
    pytest.param({"hdfhub_workshop_removed_homes": "tar"},
                 ["hdfhub_workshop_removed_homes", "archive, keep, delete", "tar"],
                 id="workshop-removed-homes-unknown"),
    pytest.param({"hdfhub_guests_enabled": True, "hdfhub_guests_max": 0},
                 ["hdfhub_guests_max", "'0'", "1 to 200"], id="guests-max-zero"),
    pytest.param({"hdfhub_guests_enabled": True, "hdfhub_guests_idle_timeout": 5},
                 ["hdfhub_guests_idle_timeout", "'5'", "at least 60 seconds"],
                 id="guests-timeout-too-short"),
    pytest.param({"hdfhub_mem_limit": "lots"},
                 ["hdfhub_mem_limit", "'lots'", "K, M, G or T"], id="mem_limit-not-a-size"),
    pytest.param({"hdfhub_cpu_limit": -1},
                 ["hdfhub_cpu_limit", "'-1'", "above 0"], id="cpu_limit-negative"),
    pytest.param({"hdfhub_cpu_limit": "fast"},
                 ["hdfhub_cpu_limit", "float"], id="cpu_limit-not-a-number"),
    pytest.param({"hdfhub_cull_idle_timeout": -60},
                 ["hdfhub_cull_idle_timeout", "'-60'", "number of seconds"],
                 id="cull_idle_timeout-negative"),
    pytest.param({"hdfhub_warm_hold": 0},
                 ["hdfhub_warm_hold", "'0'", "at least 60"], id="warm_hold-zero"),
    pytest.param({"hdfhub_warm_users": "ws01"},
                 ["hdfhub_warm_users", "list"], id="warm_users-not-a-list"),
    pytest.param({"hdfhub_authenticator": "ldapx"},
                 ["hdfhub_authenticator", "firstuse, native, pam, ldap, github, generic-oauth"],
                 id="authenticator-unknown"),
    # Featured notebooks (roles/content).
    pytest.param({"hdfhub_featured_notebooks": ["/nonexistent/intro.ipynb"]},
                 ["hdfhub_featured_notebooks", "'/nonexistent/intro.ipynb'",
                  "absolute path of an existing .ipynb file"],
                 id="featured-notebook-missing"),
    pytest.param({"hdfhub_featured_notebooks": ["notebooks/intro.ipynb"]},
                 ["hdfhub_featured_notebooks", "absolute path"],
                 id="featured-notebook-relative"),
    pytest.param({"hdfhub_featured_repos": [{"name": "Lessons 1", "url": "https://git.example.org/l"}]},
                 ["hdfhub_featured_repos entry", "Lessons 1", "lower-case letters"],
                 id="featured-repo-bad-name"),
    pytest.param({"hdfhub_featured_repos": [{"name": "lessons", "url": "git.example.org/l"}]},
                 ["hdfhub_featured_repos entry", "git.example.org/l", "user@host:path"],
                 id="featured-repo-not-a-url"),
    pytest.param({"hdfhub_featured_repos": [{"name": "data", "url": "https://git.example.org/l"}]},
                 ["hdfhub_featured_repos entry", "not data or featured"],
                 id="featured-repo-named-data"),
    pytest.param({"hdfhub_featured_repos": [{"name": "l", "url": "https://git.example.org/a"},
                                            {"name": "l", "url": "https://git.example.org/b"}]},
                 ["hdfhub_featured_repos names l, l", "a name of its own"],
                 id="featured-repos-same-name"),
    # Workshop accounts (roles/workshop_accounts).
    pytest.param({"hdfhub_workshop_accounts": {"count": -5, "prefix": "ws"}},
                 ["hdfhub_workshop_accounts", "count must be 0 (none) to 500"],
                 id="workshop-count-negative"),
    pytest.param({"hdfhub_workshop_accounts": {"count": 5000, "prefix": "ws"}},
                 ["hdfhub_workshop_accounts", '"count": 5000', "0 (none) to 500"],
                 id="workshop-count-too-many"),
    pytest.param({"hdfhub_workshop_accounts": {"count": 3, "prefix": "WS "}},
                 ["hdfhub_workshop_accounts", "prefix a lower-case letter"],
                 id="workshop-prefix-malformed"),
    pytest.param({"hdfhub_workshop_accounts": {"count": 3, "prefix": "ws"},
                  "hdfhub_authenticator": "pam"},
                 ["hdfhub_workshop_accounts", "need hdfhub_authenticator firstuse (it is pam)"],
                 id="workshop-with-pam"),
    # Authenticators (roles/preflight/tasks/authentication.yml).
    pytest.param({"hdfhub_authenticator": "ldap"},
                 ["hdfhub_ldap_uri ''", "ldaps://host[:port]"], id="ldap-without-uri"),
    pytest.param({"hdfhub_authenticator": "ldap", "hdfhub_ldap_uri": "ldap.example.org"},
                 ["hdfhub_ldap_uri 'ldap.example.org'", "not the LDAP server's URI"],
                 id="ldap-uri-without-scheme"),
    pytest.param({"hdfhub_authenticator": "ldap", "hdfhub_ldap_uri": "ldaps://ldap.example.org"},
                 ["hdfhub_ldap_bind_dn_templates", "hdfhub_ldap_user_search_base",
                  "not both and not neither"], id="ldap-without-templates-or-search"),
    pytest.param({"hdfhub_authenticator": "ldap", "hdfhub_ldap_uri": "ldaps://ldap.example.org",
                  "hdfhub_ldap_bind_dn_templates": ["uid=alice,dc=example,dc=org"]},
                 ["hdfhub_ldap_bind_dn_templates", "must contain {username}"],
                 id="ldap-template-without-username"),
    pytest.param({"hdfhub_authenticator": "ldap", "hdfhub_ldap_uri": "ldaps://ldap.example.org",
                  "hdfhub_ldap_user_search_base": "ou=people,dc=example,dc=org",
                  "hdfhub_ldap_search_bind_dn": "cn=reader,dc=example,dc=org"},
                 ["hdfhub_ldap_search_bind_dn and hdfhub_ldap_search_bind_password go together"],
                 id="ldap-search-account-without-password"),
    pytest.param({"hdfhub_authenticator": "github", "hdfhub_oauth_client_id": "hub-app"},
                 ["hdfhub_authenticator is github", "hdfhub_oauth_client_secret",
                  "OAuth app's credentials"], id="oauth-without-secret"),
    pytest.param({"hdfhub_authenticator": "generic-oauth", "hdfhub_oauth_client_id": "hub-app",
                  "hdfhub_oauth_client_secret": "s3cret",
                  "hdfhub_oauth_authorize_url": "https://sso.example.org/auth",
                  "hdfhub_oauth_userdata_url": "https://sso.example.org/userinfo"},
                 ["hdfhub_oauth_token_url ''", "not an https:// URL"],
                 id="generic-oauth-without-token-url"),
    pytest.param({"hdfhub_authenticator": "native", "hdfhub_native_minimum_password_length": 4},
                 ["hdfhub_native_minimum_password_length", "'4'", "Use 8 or more"],
                 id="native-password-too-short"),
    pytest.param({"hdfhub_authenticator": "pam", "hdfhub_users": ["nobody", "nosuchperson"]},
                 ["hdfhub_authenticator", "nosuchperson", "no Unix account"],
                 id="pam-user-without-account"),
    pytest.param({"jupyterhub_proxy_port": "eighty"},
                 ["jupyterhub_proxy_port", "int"], id="role-var-wrong-type-proxy_port"),
    pytest.param({"nginx_tls_ca_days": 3650 * 10},
                 ["nginx_tls_ca_days", "'36500'", "7 to 3650"], id="nginx-tls-ca-days-too-long"),
    pytest.param({"nginx_tls_protocols": ["TLSv1.3", "SSLv3"]},
                 ["nginx_tls_protocols", "TLSv1.2, TLSv1.3", "SSLv3"], id="nginx-tls-protocol-unknown"),
    pytest.param({"hdf_env_backend": "mamba"},
                 ["hdf_env_backend", "pip, conda"], id="env-backend-unknown"),
    pytest.param({"hdf_env_environments": [{"name": "hdf5", "display_name": "H",
                                            "backend": "mamba"}]},
                 ["hdf_env_environments", "backend", "pip, conda"],
                 id="env-entry-backend-unknown"),
    # No conda-forge lock is shipped (none could be generated here).
    pytest.param({"hdf_env_backend": "conda"},
                 ["hdf_env: environment hdf5 uses backend conda", "conda/hdf5.lock",
                  "does not exist", "tools/conda_lock.py"], id="env-conda-lock-missing"),
    pytest.param({"hdf_env_conda_channel": "conda forge"},
                 ["hdf_env_conda_channel", "'conda forge'", "neither a channel name"],
                 id="env-conda-channel-malformed"),
    pytest.param(lambda tmp_path: {"hdfhub_extra_ca_certs": [str(tmp_path / "no-such-ca.crt")]},
                 ["hdfhub_extra_ca_certs", "no-such-ca.crt", "not a file on the controller"],
                 id="extra_ca_certs-missing-file"),
    # Offline bundle (roles/offline_bundle); the archives are made here.
    pytest.param({"hdfhub_offline_bundle": "hdfhub-bundle.tar"},
                 ["hdfhub_offline_bundle 'hdfhub-bundle.tar'", "absolute path"],
                 id="offline-bundle-relative"),
    pytest.param({"hdfhub_offline_bundle": "/srv/b.tar", "hdfhub_tls_mode": "acme",
                  "hdfhub_domain": "hub.example.org", "hdfhub_acme_email": "admin@example.org"},
                 ["hdfhub_offline_bundle is set but hdfhub_tls_mode is acme"],
                 id="offline-bundle-with-acme"),
    pytest.param(lambda tmp_path: {"hdfhub_offline_bundle": str(tmp_path / "nowhere.tar"),
                                   "hdfhub_offline_bundle_sha256": ANY_SHA256},
                 ["hdfhub_offline_bundle", "nowhere.tar", "is not a readable bundle"],
                 id="offline-bundle-missing"),
    pytest.param(lambda tmp_path: {"hdfhub_offline_bundle": str(tmp_path / "b.tar")},
                 ["hdfhub_offline_bundle_sha256 ''", "is not a sha256", "bundle.yml printed"],
                 id="offline-bundle-not-pinned"),
    pytest.param(swapped_bundle,
                 ["hdfhub_offline_bundle_sha256", "not the pinned", "not the bundle that was built"],
                 id="offline-bundle-swapped"),
    pytest.param(damaged_bundle,
                 ["hdfhub_offline_bundle", "damaged (sha256 differs from the manifest): "
                  "wheels/h5py-3.16.0-cp311-cp311-manylinux_2_28_x86_64.whl"],
                 id="offline-bundle-damaged-file"),
    # HSDS (roles/hsds).
    pytest.param({"hdfhub_hsds_enabled": True, "hdfhub_hsds_data_nodes": 0},
                 ["hdfhub_hsds_data_nodes is 0", "at least one data node", "1 to 8"],
                 id="hsds-no-data-nodes"),
    pytest.param({"hdfhub_hsds_enabled": True, "hdfhub_hsds_publik": True},
                 ["hdfhub_hsds_publik is not a setting", "did you mean hdfhub_hsds_public?"],
                 id="hsds-setting-misspelt"),
    pytest.param({"hdfhub_hsds_public": True},
                 ["hdfhub_hsds_public is on, but hdfhub_hsds_enabled is off", "Turn both on"],
                 id="hsds-public-without-hsds"),
    pytest.param({"hdfhub_hsds_enabled": True, "hdfhub_hsds_public": True,
                  "hdfhub_hsds_public_path": "/hub/"},
                 ["hdfhub_hsds_public_path is '/hub/'", "not one of the hub's own"],
                 id="hsds-public-path-taken"),
    pytest.param({"hdfhub_hsds_enabled": True, "hdfhub_hsds_public": True,
                  "hdfhub_hsds_public_path": "http://hub/hsds"},
                 ["hdfhub_hsds_public_path is 'http://hub/hsds'", "between two slashes"],
                 id="hsds-public-path-a-url"),
    # Firewall (roles/firewall).
    pytest.param({"hdfhub_firewall_allowed_tcp_ports": [22, 443, 70000]},
                 ["hdfhub_firewall_allowed_tcp_ports", "'70000'", "1 to 65535"],
                 id="firewall-port-out-of-range"),
    pytest.param({"firewall_allowed_tcp_ports": [0]},
                 ["firewall_allowed_tcp_ports", "'0'", "1 to 65535"],
                 id="firewall-role-port-zero"),
    pytest.param({"hdfhub_firewall_allowed_tcp_ports": ["ssh"]},
                 ["hdfhub_firewall_allowed_tcp_ports", "int"], id="firewall-port-not-a-number"),
    pytest.param({"firewall_loopback_tcp_port_users": [{"port": 8000, "users": ["Nginx Worker"]}]},
                 ["firewall_loopback_tcp_port_users", "Unix user names"], id="firewall-loopback-user-bad"),
    # Backup (roles/backup).
    pytest.param({"hdfhub_backup_repository": "ftp://nas/backups"},
                 ["hdfhub_backup_repository", "'ftp://nas/backups'", "not a restic repository"],
                 id="backup-repository-unknown-scheme"),
    pytest.param({"hdfhub_backup_repository": "backups/hdfhub"},
                 ["hdfhub_backup_repository", "absolute path"], id="backup-repository-relative"),
    pytest.param({"hdfhub_backup_schedule": "every tuesday"},
                 ["hdfhub_backup_schedule", "'every tuesday'", "not a systemd calendar expression"],
                 id="backup-schedule-malformed"),
    pytest.param({"hdfhub_backup_keep_daily": -1},
                 ["hdfhub_backup_keep_daily", "from 0 up"], id="backup-keep-negative"),
    pytest.param({"hdfhub_backup_keep_hourly": 0, "hdfhub_backup_keep_daily": 0,
                  "hdfhub_backup_keep_weekly": 0, "hdfhub_backup_keep_monthly": 0},
                 ["hdfhub_backup_keep_hourly", "at least one above 0"], id="backup-keep-all-zero"),
    pytest.param({"hdfhub_backup_keep_weekly": "many"},
                 ["hdfhub_backup_keep_weekly", "int"], id="backup-keep-not-a-number"),
    pytest.param({"hdfhub_metrics_enabled": True, "hdfhub_metrics_retention_days": 0},
                 ["hdfhub_metrics_retention_days", "'0'", "from 1 up"], id="metrics-retention-zero"),
    pytest.param({"hdfhub_metrics_enabled": True, "hdfhub_metrics_retention_days": -7},
                 ["hdfhub_metrics_retention_days", "'-7'", "from 1 up"], id="metrics-retention-negative"),
    pytest.param({"hdfhub_usage_events": "everything"},
                 ["hdfhub_usage_events", "'everything'", "is not one of: off, names, pseudonyms, counts"],
                 id="usage-events-unknown-privacy"),
    pytest.param({"hdfhub_usage_events": "counts", "hdfhub_usage_events_days": 0},
                 ["hdfhub_usage_events_days", "'0'", "from 1 up"], id="usage-events-days-zero"),
    # Wrong types at every depth (the checks do not convert: 'a,b' is no list).
    pytest.param({"hdfhub_users": "alice"},
                 ["hdfhub_users must be a list of strings, not the string 'alice'"],
                 id="type-string-for-list"),
    pytest.param({"hdfhub_extra_names": "hub.example.org"},
                 ["hdfhub_extra_names must be a list", "the string 'hub.example.org'"],
                 id="type-string-for-list-of-names"),
    pytest.param({"hdfhub_users": [["alice"]]},
                 ["hdfhub_users[0] must be a string, not a list"], id="type-list-in-list"),
    pytest.param({"hdfhub_workshop_accounts": [3]},
                 ["hdfhub_workshop_accounts must be a mapping (dict), not a list"],
                 id="type-list-for-dict"),
    pytest.param({"hdfhub_backup_environment": ["AWS_ACCESS_KEY_ID=x"]},
                 ["hdfhub_backup_environment must be a mapping (dict), not a list"],
                 id="type-list-for-dict-environment"),
    pytest.param({"hdfhub_guests_enabled": "maybe"},
                 ["hdfhub_guests_enabled must be true or false (bool), not the string 'maybe'"],
                 id="type-word-for-bool"),
    pytest.param({"hdfhub_mem_limit": 2},
                 ["hdfhub_mem_limit must be a string, not the number 2"], id="type-number-for-string"),
    pytest.param({"hdfhub_workshop_accounts": {"count": "many", "prefix": "ws"}},
                 ["hdfhub_workshop_accounts.count must be a whole number (int), not the string 'many'"],
                 id="type-depth-2-dict-key"),
    pytest.param({"hdfhub_featured_repos": ["https://git.example.org/lessons.git"]},
                 ["hdfhub_featured_repos[0] must be a mapping (dict)"], id="type-string-for-list-entry"),
    pytest.param({"hdfhub_featured_repos": [{"name": "l", "url": "https://git.example.org/l",
                                             "version": 3}]},
                 ["hdfhub_featured_repos[0].version must be a string, not the number 3"],
                 id="type-depth-3-list-entry-key"),
    # A missing or misspelt key in a list entry or a mapping.
    pytest.param({"hdfhub_featured_repos": [{"url": "https://git.example.org/lessons.git"}]},
                 ["hdfhub_featured_repos[0] has no name", "it needs name, url"],
                 id="missing-key-in-list-entry"),
    pytest.param({"hdf_env_environments": [{"display_name": "HDF5"}]},
                 ["hdf_env_environments[0] has no name"], id="missing-key-in-role-list-entry"),
    pytest.param({"hdfhub_workshop_accounts": {"count": 3, "prefx": "ws"}},
                 ["hdfhub_workshop_accounts has unknown keys prefx", "the keys are count, prefix"],
                 id="unknown-key-in-mapping"),
    # Expert overrides of role variables are checked under their own names.
    pytest.param({"jupyterhub_mem_limit": "lots"},
                 ["jupyterhub_mem_limit 'lots'", "K, M, G or T"], id="role-var-mem_limit"),
    pytest.param({"backup_repository": "ftp://nas/backups"},
                 ["backup_repository 'ftp://nas/backups'", "not a restic repository"],
                 id="role-var-backup_repository"),
    pytest.param({"firewall_allowed_tcp_ports": "22,80"},
                 ["firewall_allowed_tcp_ports must be a list of whole numbers, not the string '22,80'"],
                 id="role-var-string-for-list"),
    pytest.param({"nginx_tls_extra_names": ["bad name!"]},
                 ["nginx_tls_extra_names entry 'bad name!'", "neither a DNS name nor an IP address"],
                 id="role-var-extra_names"),
    pytest.param({"content_repos": [{"name": "lessons"}]},
                 ["content_repos[0] has no url"], id="role-var-list-entry-missing-key"),
    pytest.param({"jupyterhub_authenticator": "ldap",
                  "jupyterhub_ldap": {"uri": "ldap.example.org", "bind_dn_templates": [],
                                      "user_search_base": "", "user_attribute": "uid",
                                      "search_bind_dn": "", "search_bind_password": "",
                                      "allowed_groups": []}},
                 ["jupyterhub_ldap.uri 'ldap.example.org'", "not the LDAP server's URI"],
                 id="role-var-nested-override"),
]


@pytest.mark.parametrize("extra_vars, expect", BAD_INPUT)
def test_bad_input_stops_in_preflight(debian, tmp_path, extra_vars, expect):
    """A wrong inventory value must stop the run before any role touches the host."""
    if callable(extra_vars):
        extra_vars = extra_vars(tmp_path)
    assert_stopped_in_preflight(debian, tmp_path, extra_vars, expect)


def test_unsupported_os_stops_in_preflight(fedora, tmp_path):
    """Valid input on an OS we do not support fails, and says which OSes are supported."""
    run = assert_stopped_in_preflight(fedora, tmp_path, None, ["not supported", "Debian 12"])
    assert "Fedora" in run.message, run.message


def test_host_without_systemd_stops_in_preflight(debian, tmp_path):
    """The defaults are valid input, so the run gets to the host checks and stops at systemd.

    This is also the control for the cases above: with nothing wrong in the
    inventory, every input check passes.
    """
    run = assert_stopped_in_preflight(debian, tmp_path, None, ["systemd"])
    assert "hdfhub_" not in run.message, run.message


def test_existing_featured_notebook_passes(debian, tmp_path):
    """Control for the notebook cases: an existing .ipynb gets past its check."""
    notebook = REPO / "roles/content/files/featured/01-h5py-basics.ipynb"
    run = assert_stopped_in_preflight(debian, tmp_path,
                                      {"hdfhub_featured_notebooks": [str(notebook)]}, ["systemd"])
    assert "hdfhub_featured_notebooks" not in run.message, run.message


def test_matching_provided_certificate_passes_tls_checks(debian, tmp_path):
    """Control for the key-mismatch case: a matching pair gets past the TLS checks."""
    run = assert_stopped_in_preflight(debian, tmp_path, provided_matching(tmp_path),
                                      ["systemd"])
    assert "Check that the key belongs to the certificate" in " ".join(run.tasks), run
