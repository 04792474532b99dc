"""Ansible test `installed`: are these Debian packages all installed, as far
as the package facts (ansible.builtin.package_facts) say?"""


def installed(names, facts):
    """False when the facts hold no package list: then only apt can tell."""
    packages = (facts or {}).get("packages")
    return bool(packages) and all(name in packages for name in names)


class TestModule:
    """hdfhub package tests."""

    def tests(self):
        return {"installed": installed}
