"""tools/check_structure.py passes this checkout and fails each rule it keeps."""
import shutil

import pytest

from conftest import ROOT, load_module

check = load_module("tools/check_structure.py", "check_structure")


@pytest.fixture()
def tree(tmp_path):
    """A copy of the parts the check reads."""
    for part in ("roles", "playbooks"):
        shutil.copytree(ROOT / part, tmp_path / part, symlinks=True)
    shutil.copy(ROOT / "ansible.cfg", tmp_path)
    return tmp_path


def test_checkout_keeps_the_rules():
    assert check.problems() == []


def test_copy_keeps_the_rules(tree):
    assert check.problems(tree) == []


def test_reading_another_roles_files_fails(tree):
    path = tree / "roles/content/defaults/main.yml"
    path.write_text(path.read_text() + "content_x: \"{{ role_path ~ '/../hdf_env/files/x' }}\"\n")
    assert any("content/defaults/main.yml" in p and "role_path" in p for p in check.problems(tree))


def test_when_false_import_fails(tree):
    path = tree / "playbooks/bundle.yml"
    path.write_text(path.read_text().replace(
        "  tasks:\n",
        "  tasks:\n    - name: Load defaults\n      block:\n"
        "        - name: Load hdf_env\n          ansible.builtin.import_role:\n"
        "            name: hdfgroup.hdfhub.hdf_env\n          when: false\n", 1))
    assert any("when: false" in p and "Load hdf_env" in p for p in check.problems(tree))


def test_role_without_validate_fails(tree):
    (tree / "roles/firewall/tasks/validate.yml").unlink()
    assert check.problems(tree) == ["roles/firewall: no tasks/validate.yml to check its variables"]


def test_python_in_a_role_fails(tree):
    (tree / "roles/backup/library").mkdir()
    (tree / "ansible.cfg").write_text("[defaults]\nlibrary = roles/backup/library\n")
    found = check.problems(tree)
    assert "roles/backup/library: Python belongs in plugins/" in found
    assert any(p.startswith("ansible.cfg") for p in found)
