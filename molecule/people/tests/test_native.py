"""Self sign-up with an admin's approval: the hub is re-converged with
hdfhub_authenticator native (module fixture; it runs after test_ldap.py and
before test_oauth.py), and people sign up through the real
nativeauthenticator's form. The inventory's admin and users log in with the
password the converge generated (no one can sign up their names), the admin
approves others on /hub/authorize, and approved people get a server."""
import pytest

from hubfixtures import ACCOUNT_ROLES, HTTPS, HubError, HubUser, account, run_site


@pytest.fixture(scope="module")
def native_hub():
    run = run_site({"hdfhub_authenticator": "native"}, tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]


def test_login_page_offers_sign_up_and_try_it(native_hub, ca_file):
    page = HubUser("nobody", ca_file).session.get(f"{HTTPS}/hub/login", timeout=30)
    assert page.status_code == 200
    assert 'href="/hub/signup"' in page.text
    # Guests are on in this scenario: the native login page has the button too.
    assert 'id="try_submit"' in page.text


def test_sign_up_waits_for_an_admin_then_works(native_hub, host, ca_file):
    nina = HubUser("nina", ca_file)
    assert "sent to the admin" in nina.sign_up()
    with pytest.raises(HubError, match="has not been authorized by an administrator"):
        nina.login()

    # The admin's name is the deployment's: sign-up says it is taken, and the
    # password the converge generated (admin-passwords.csv) logs in.
    squatter = HubUser("admin", ca_file)
    squatter.password = "a-squatters-password"
    assert "already in use" in squatter.sign_up()
    with pytest.raises(HubError, match="Invalid username or password"):
        squatter.login()
    admin = HubUser("admin", ca_file)
    admin.login()
    area = admin.session.get(f"{HTTPS}/hub/authorize", timeout=30)
    assert area.status_code == 200 and 'href="/hub/authorize/nina"' in area.text
    # The "Authorize" button is this link.
    admin.session.get(f"{HTTPS}/hub/authorize/nina", timeout=30).raise_for_status()

    nina.login().start()
    try:
        assert host.user(account("nina")).exists
        assert host.service(account("nina")).is_running
        nina.check_hdf5(n=100)
    finally:
        nina.stop()


def test_only_admins_approve(native_hub, ca_file):
    """Someone approved is no admin: the approval page is closed to them."""
    nina = HubUser("nina", ca_file).login()
    mallory = HubUser("mallory", ca_file)
    mallory.sign_up()
    assert nina.session.get(f"{HTTPS}/hub/authorize/mallory", timeout=30,
                            allow_redirects=False).status_code == 403
    with pytest.raises(HubError, match="has not been authorized"):
        mallory.login()


def test_an_inventory_users_name_cannot_be_signed_up(native_hub, ca_file):
    """grace is in hdfhub_users: a stranger signing up as grace first would
    have been approved at once. Her password is the converge's
    (admin-passwords.csv, which HubUser reads)."""
    squatter = HubUser("grace", ca_file)
    squatter.password = "a-squatters-password"
    assert "already in use" in squatter.sign_up()
    with pytest.raises(HubError, match="Invalid username or password"):
        squatter.login()
    grace = HubUser("grace", ca_file)
    assert grace.password != "verify-grace-password"
    assert grace.login().api("GET", "/hub/api/user").json()["name"] == "grace"


def test_a_password_too_long_for_bcrypt_is_refused_not_an_error(native_hub, ca_file):
    """bcrypt reads 72 bytes at most (bcrypt 5 raises on more): the form
    says no, where the hub used to answer 500."""
    verbose = HubUser("verbose", ca_file)
    verbose.password = "correct horse battery staple " * 3
    assert "password has at least 10 characters" in verbose.sign_up()
    with pytest.raises(HubError, match="Invalid username or password"):
        verbose.login()


@pytest.mark.parametrize("secret", ["short", "password123"], ids=["too-short", "too-common"])
def test_weak_passwords_are_refused_at_sign_up(native_hub, ca_file, secret):
    """10 is hdfhub_native_minimum_password_length's default; password123 is
    long enough but on the authenticator's list of common passwords."""
    weak = HubUser("weakling", ca_file)
    weak.password = secret
    assert "password has at least 10 characters and is not too common" in weak.sign_up()
    with pytest.raises(HubError, match="Invalid username or password"):
        weak.login()


def test_wrong_password_is_refused(native_hub, ca_file):
    nina = HubUser("nina", ca_file)
    nina.password = "not-ninas-password"
    with pytest.raises(HubError, match="Invalid username or password"):
        nina.login()


def test_guessing_locks_the_name(native_hub, ca_file):
    """After allowed_failed_logins (5) wrong passwords, the right one is
    refused too; bcrypt checks each in a thread (hdfhub.native)."""
    for _ in range(5):
        guess = HubUser("grace", ca_file)
        guess.password = "not-graces-password"
        with pytest.raises(HubError, match="Invalid username or password"):
            guess.login()
    with pytest.raises(HubError, match="Invalid username or password"):
        HubUser("grace", ca_file).login()


def test_an_expired_login_form_is_shown_again_with_the_reason(native_hub, ca_file):
    """JupyterHub renders such errors through the authenticator's login page
    (hdfhub_native fixes nativeauthenticator 1.3 there, and in every POST)."""
    nina = HubUser("nina", ca_file)
    nina.session.get(f"{HTTPS}/hub/login", timeout=30).raise_for_status()
    r = nina.session.post(f"{HTTPS}/hub/login", timeout=30, allow_redirects=False,
                          data={"username": "nina", "password": nina.password, "_xsrf": "stale"})
    assert r.status_code == 403
    assert "Login form invalid or expired. Try again." in r.text and 'id="try_submit"' in r.text
