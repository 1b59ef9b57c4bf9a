"""The policy engine: check-string language, legacy vs new defaults, scope, overrides."""

from __future__ import annotations

import pytest

from allotment.placement.api.policy import Enforcer, PolicyNotAuthorized, compile_check


def creds(roles: list[str], project: str | None = "p1", system: str | None = None) -> dict[str, object]:
    return {"user_id": "u", "project_id": project, "roles": roles, "system_scope": system}


@pytest.mark.parametrize(
    ("check", "roles", "target", "expected"),
    [
        ("@", [], {}, True),
        ("!", ["admin"], {}, False),
        ("role:admin", ["Admin"], {}, True),
        ("role:admin", ["reader"], {}, False),
        ("role:admin or role:service", ["service"], {}, True),
        ("role:reader and project_id:%(project_id)s", ["reader"], {"project_id": "p1"}, True),
        ("role:reader and project_id:%(project_id)s", ["reader"], {"project_id": "p2"}, False),
        ("(role:reader and project_id:%(project_id)s) or (role:admin)", ["admin"], {"project_id": "x"}, True),
        ("not role:admin", ["admin"], {}, False),
        ("not role:admin", [], {}, True),
        ("", [], {}, True),
    ],
)
def test_check_strings(check: str, roles: list[str], target: dict[str, str], expected: bool) -> None:
    assert compile_check(check)(target, creds(roles), Enforcer()) is expected


def test_legacy_defaults_let_admin_reshape_but_new_defaults_do_not() -> None:
    target = {"project_id": "p1"}
    Enforcer(enforce_new_defaults=False).authorize("placement:reshaper:reshape", target, creds(["admin"]))
    with pytest.raises(PolicyNotAuthorized):
        Enforcer(enforce_new_defaults=True).authorize("placement:reshaper:reshape", target, creds(["admin"]))
    Enforcer(enforce_new_defaults=True).authorize("placement:reshaper:reshape", target, creds(["service"]))


def test_project_reader_may_read_own_usages_only_with_new_defaults() -> None:
    enforcer = Enforcer(enforce_new_defaults=True)
    enforcer.authorize("placement:usages", {"project_id": "p1"}, creds(["reader"]))
    with pytest.raises(PolicyNotAuthorized, match="placement:usages"):
        enforcer.authorize("placement:usages", {"project_id": "p2"}, creds(["reader"]))


def test_scope_enforcement_rejects_system_scoped_tokens_on_project_rules() -> None:
    enforcer = Enforcer(enforce_new_defaults=True, enforce_scope=True)
    with pytest.raises(PolicyNotAuthorized):
        enforcer.authorize("placement:resource_providers:list", {}, creds(["admin"], None, "all"))
    Enforcer(enforce_new_defaults=True).authorize(
        "placement:resource_providers:list", {}, creds(["admin"], None, "all")
    )


def test_overrides_replace_defaults(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "policy.yaml"
    path.write_text('"placement:resource_providers:list": "@"\n')
    enforcer = Enforcer.from_file(str(path))
    enforcer.authorize("placement:resource_providers:list", {}, creds([]))
    with pytest.raises(PolicyNotAuthorized):
        enforcer.authorize("placement:resource_providers:create", {}, creds([]))


def test_unknown_rule_is_an_error() -> None:
    with pytest.raises(KeyError):
        Enforcer().authorize("placement:nope", {}, creds(["admin"]))
