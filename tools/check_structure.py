"""The rules that keep each role in its own room (docs/architecture.md).

    python3 tools/check_structure.py      # exit 1 and list what breaks them

- No role reads another role's files: no `role_path ~ '/../'`.
- No playbook imports or includes a role with `when: false` to get its
  defaults: roles declare what they need, and playbooks pass values.
- Every role but preflight checks its own variables in tasks/validate.yml,
  which preflight runs.
- The Python lives in plugins/: no role carries library/, filter_plugins/,
  test_plugins/ or module_utils/, and ansible.cfg sets no `library`.
Only the standard library and PyYAML are used.
"""
import configparser
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLE_PATH_UP = re.compile(r"""role_path\s*~\s*['"]/\.\./""")
PLUGIN_DIRS = ("library", "filter_plugins", "test_plugins", "module_utils")
ROLE_ACTIONS = {"import_role", "include_role", "ansible.builtin.import_role",
                "ansible.builtin.include_role"}


def _tasks(node):
    """Every task in a play or task list, blocks opened."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if key in node:
                yield from _tasks(node[key])
        if ROLE_ACTIONS & node.keys():
            yield node


def problems(root=ROOT):
    found = []
    roles = sorted(p for p in (root / "roles").iterdir() if p.is_dir())
    for path in sorted(root.glob("roles/**/*.yml")) + sorted(root.glob("roles/**/*.j2")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ROLE_PATH_UP.search(line):
                found.append(f"{path.relative_to(root)}:{number}: reads another role's files "
                             f"(role_path ~ '/../'); pass the value in as a role variable")
    for path in sorted(root.glob("playbooks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            if str(task.get("when")).strip().lower() == "false":
                found.append(f"{path.relative_to(root)}: task {task.get('name')!r} imports a role "
                             f"with when: false; declare the dependency or pass the values")
    for role in roles:
        if role.name != "preflight" and not (role / "tasks/validate.yml").is_file():
            found.append(f"roles/{role.name}: no tasks/validate.yml to check its variables")
        for name in PLUGIN_DIRS:
            if (role / name).exists():
                found.append(f"roles/{role.name}/{name}: Python belongs in plugins/")
    config = configparser.ConfigParser()
    config.read(root / "ansible.cfg")
    if config.has_option("defaults", "library"):
        found.append("ansible.cfg: sets library; modules belong in plugins/modules")
    return found


def main():
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
