"""Ansible filter `python_literal`: a value as Python source, for the
jupyterhub_config.py that templates write (JSON's true/null are not Python)."""
import json


def python_literal(value):
    """repr() of the value made plain: strings, numbers, booleans, None,
    lists and dicts of them, whatever Ansible-tagged types held them."""
    return repr(json.loads(json.dumps(value)))


class FilterModule:
    """hdfhub config filters."""

    def filters(self):
        return {"python_literal": python_literal}
