"""hdfgroup.hdfhub.check_settings' judgement, without Ansible: strict types at
every depth, and a no_log value never echoed."""
from conftest import load_module

module = load_module("plugins/action/check_settings.py", "check_settings")
check, unknown = module.check, module.unknown


def test_string_is_not_a_list():
    assert check("hdfhub_users", "alice", {"type": "list", "elements": "str"}) == [
        "hdfhub_users must be a list of strings, not the string 'alice'."]


def test_missing_key_in_a_list_entry_is_named_by_position():
    spec = {"type": "list", "elements": "dict",
            "options": {"name": {"type": "str", "required": True}, "url": {"type": "str"}}}
    assert check("repos", [{"url": "u"}], spec) == [
        "repos[0] has no name: it needs name (and may have url)."]


def test_a_secret_of_the_wrong_type_is_not_echoed():
    problems = check("hdfhub_ldap_search_bind_password", 12345678,
                     {"type": "str", "no_log": True})
    assert problems and "12345678" not in problems[0] and "int" in problems[0]


def test_a_misspelt_setting_is_named_with_the_nearest_one():
    known = ["hdfhub_hsds_enabled", "hdfhub_hsds_public", "hdfhub_domain"]
    names = ["hdfhub_hsds_publik", "hdfhub_domain", "hdfhub_zzz", "jupyterhub_mem_limit"]
    assert unknown(names, known, "hdfhub_") == [
        "hdfhub_hsds_publik is not a setting; did you mean hdfhub_hsds_public? "
        "The settings are listed in docs/reference/variables.md.",
        "hdfhub_zzz is not a setting. The settings are listed in docs/reference/variables.md."]
