"""Action `hdfgroup.hdfhub.check_settings`: check a role's variables against
its argument spec, strictly, and say what is wrong in the user's words.

Ansible's own spec check converts before it judges ('a,b' passes as a list,
5 as a string), and the role then fails later on the unconverted value with
an internal error. This check does not convert: a value must already have
the spec's type, at every depth (list elements, the keys of a mapping, the
entries of a list of mappings). With `unknown_prefix`, a variable of that
prefix that the spec does not know (a misspelt setting) is a problem too.
Each problem names the variable as the user
wrote it: a role variable whose default derives from a site setting, such
as `jupyterhub_mem_limit: "{{ hdfhub_mem_limit }}"`, is reported under the
(first) setting's name unless the inventory overrides it.
"""
import difflib
import re

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import BOOLEANS
from ansible.plugins.action import ActionBase

# The site setting a role default derives from.
_SETTING = re.compile(r"\{\{.*?\b(hdfhub_[a-z0-9_]+)", re.S)

_EXPECTED = {
    "str": "a string",
    "path": "a path (a string)",
    "int": "a whole number (int)",
    "float": "a number (float)",
    "bool": "true or false (bool)",
    "list": "a list",
    "dict": "a mapping (dict)",
}

_PLURAL = {"str": "strings", "path": "paths", "int": "whole numbers", "float": "numbers",
           "bool": "booleans", "dict": "mappings", "list": "lists"}


def _describe(value, secret=False):
    if secret:  # no_log in the spec: say what kind of value, never the value
        return f"a value of type {type(value).__name__}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if is_sequence(value):
        return "a list"
    if value is None:
        return "empty (null)"
    return type(value).__name__


def _has_type(value, kind):
    """True if value already is of the spec's type; numbers and booleans may
    also come as strings, as `-e name=value` gives them."""
    if kind == "raw":
        return True
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()) is not None)
    if kind == "float":
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
            return True
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool) or (
            isinstance(value, (str, int)) and str(value).lower() in {str(b).lower() for b in BOOLEANS})
    if kind == "list":
        return is_sequence(value)
    if kind == "dict":
        return isinstance(value, dict)
    raise AnsibleError(f"check_settings does not know the spec type {kind!r}")


def _name(raw, name):
    """The site setting that raw (an unrendered default) derives from, or name."""
    setting = _SETTING.search(raw) if isinstance(raw, str) else None
    return setting[1] if setting else name


def check(path, value, option, raw=None):
    """Problems with one value against its option spec, as sentences."""
    kind = option.get("type", "str")
    expected = _EXPECTED.get(kind, kind)
    if kind == "list" and option.get("elements"):
        expected += f" of {_PLURAL.get(option['elements'], option['elements'])}"
    if not _has_type(value, kind):
        return [f"{path} must be {expected}, not {_describe(value, option.get('no_log'))}."]
    problems = []
    choices = option.get("choices")
    if choices and kind != "list" and value not in choices:
        shown = "" if option.get("no_log") else f" {value!r}"
        problems.append(f"{path}{shown} is not one of: {', '.join(map(str, choices))}.")
    if kind == "list" and option.get("elements"):
        element = {k: v for k, v in option.items() if k in ("options", "choices")}
        element["type"] = option["elements"]
        for index, item in enumerate(value):
            problems += check(f"{path}[{index}]", item, element)
    if kind == "dict" and option.get("options"):
        problems += _check_keys(path, value, option["options"], raw)
    return problems


def _check_keys(path, value, options, raw):
    problems = []
    required = [k for k, o in options.items() if o.get("required")]
    missing = [k for k in required if k not in value]
    if missing:
        problems.append(f"{path} has no {', '.join(missing)}: it needs {', '.join(required)}"
                        f" (and may have {', '.join(k for k in options if k not in required) or 'nothing else'}).")
    unknown = [k for k in value if k not in options]
    if unknown:
        problems.append(f"{path} has unknown keys {', '.join(map(str, unknown))}: "
                        f"the keys are {', '.join(options)}.")
    for key, sub in options.items():
        if key in value:
            sub_raw = raw.get(key) if isinstance(raw, dict) else None
            problems += check(_name(sub_raw, f"{path}.{key}"), value[key], sub, sub_raw)
    return problems


def unknown(names, known, prefix):
    """A problem for each name of `prefix` that is not in `known`: a misspelt
    setting would otherwise be ignored without a word."""
    problems = []
    for name in sorted(n for n in names if n.startswith(prefix) and n not in known):
        # Without the prefix, which every name shares.
        near = difflib.get_close_matches(name[len(prefix):], [k[len(prefix):] for k in known], n=1)
        problems.append(f"{name} is not a setting" + (f"; did you mean {prefix}{near[0]}?" if near else ".")
                        + " The settings are listed in docs/reference/variables.md.")
    return problems


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        try:
            with open(args["spec"], encoding="utf-8") as stream:
                spec = yaml.safe_load(stream)["argument_specs"][args.get("entry_point", "main")]
        except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
            return {**result, "failed": True, "msg": f"cannot read the argument spec {args.get('spec')}: {err}"}
        # A value that cannot be worked out, such as a default made from
        # other settings, is said only if nothing else is wrong: it is most
        # likely those settings' problem, reported in their own words.
        names, problems, unworkable = {}, [], []
        for name, option in (spec.get("options") or {}).items():
            if name not in task_vars:
                continue
            raw = task_vars[name]
            names[name] = _name(raw, name)
            if isinstance(raw, dict):
                names.update({f"{name}.{key}": _name(sub, f"{names[name]}.{key}")
                              for key, sub in raw.items()})
            try:
                value = self._templar.template(raw)
            except AnsibleError as err:
                unworkable.append(f"{names[name]} cannot be worked out: {err.message}")
                continue
            problems += check(names[name], value, option, raw)
        if args.get("unknown_prefix"):
            problems += unknown(task_vars, list(spec.get("options") or {}), args["unknown_prefix"])
        result["names"] = names
        problems = problems or unworkable
        if problems:
            result.update(failed=True, msg=" ".join(problems), problems=problems)
        else:
            result["msg"] = f"{len(names)} variables checked"
        return result
