"""Pre-pulled repositories of lessons (hdfhub_featured_repos). prepare.yml
serves a repository made by molecule/resources/lessons_repo.py over git://
inside the hub's container, and the converge publishes it read-only at
/srv/hdfhub/shared/lessons once its notebook has run. Last in the scenario:
the fixture converges back to the inventory (test_oauth.py changed it), and
the last test leaves a failing lesson in the repository. Every test takes
`host`, so that pytest keeps them in this order (it groups tests by that
module-scoped fixture)."""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from hubfixtures import ACCOUNT_ROLES, HubUser, account, run_site

REMOTE = "git://127.0.0.1/lessons.git"
PUBLISHED = "/srv/hdfhub/shared/lessons"
# The repository as prepare.yml made it, on this machine; the container's
# copy is replaced from it.
LOCAL = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "lessons.git"
MAKER = pathlib.Path(__file__).resolve().parents[2] / "resources" / "lessons_repo.py"


def remote_head(host):
    return host.check_output(f"git ls-remote {REMOTE} refs/heads/main").split()[0]


@pytest.fixture(scope="module")
def lessons_hub():
    # Back from test_oauth.py's authenticator; the next test converges all.
    run = run_site({}, tags=ACCOUNT_ROLES)
    assert run.returncode == 0, run.stdout[-3000:]


def test_lessons_are_published_at_the_remotes_commit(lessons_hub, host):
    assert host.check_output(f"git -C {PUBLISHED} rev-parse HEAD") == remote_head(host)
    lesson = host.file(f"{PUBLISHED}/intro/squares.ipynb")
    assert (lesson.user, lesson.mode) == ("root", 0o644)
    # The check ran the lesson in a copy: what it wrote is not here.
    assert not host.file(f"{PUBLISHED}/intro/lesson.h5").exists


def test_a_second_converge_changes_nothing(lessons_hub, host):
    again = run_site({})
    assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout[-3000:]


def test_a_person_pulls_a_copy_of_their_own_with_nbgitpuller(lessons_hub, host, ca_file):
    """The README's nbgitpuller link, against the published copy: no network
    needed. The copy in the home is theirs, and the lesson runs in it."""
    ada = HubUser("ada", ca_file).login()
    ada.start()
    try:
        r = ada.api("GET", "/user/ada/git-pull/api",
                    params={"repo": PUBLISHED, "branch": "main", "targetpath": "lessons"},
                    timeout=120)
        events = [json.loads(line[len("data: "):]) for line in r.text.splitlines()
                  if line.startswith("data: ")]
        assert events and events[-1]["phase"] == "finished", events
        home = f"/home/{account('ada')}"
        copy = host.file(f"{home}/lessons/intro/squares.ipynb")
        assert copy.user == account("ada")
        source = "".join(json.loads(copy.content_string)["cells"][0]["source"])
        out = ada.run_code(f"import os; os.chdir(os.path.expanduser('~/lessons/intro'))\n{source}")
        assert f"sum of squares: {sum(i * i for i in range(12))}" in out
        assert host.file(f"{home}/lessons/intro/lesson.h5").user == account("ada")
    finally:
        ada.stop()


def test_a_failing_lesson_stops_the_converge_and_is_not_published(lessons_hub, host):
    before = remote_head(host)
    subprocess.run([sys.executable, str(MAKER), str(LOCAL), "--broken"], check=True)
    subprocess.run(["podman", "cp", f"{LOCAL}/.", f"{host.backend.name}:/srv/git/lessons.git"],
                   check=True)
    assert remote_head(host) != before
    run = run_site({}, tags=["content"])
    assert run.returncode != 0
    assert "broken.ipynb" in run.stdout and "a_package_no_environment_has" in run.stdout
    assert host.check_output(f"git -C {PUBLISHED} rev-parse HEAD") == before
    assert not host.file(f"{PUBLISHED}/broken.ipynb").exists
