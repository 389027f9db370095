"""The role sets services check and the console reads are made of the roles tokens can carry."""

from __future__ import annotations

import pytest

from service.auth import roles
from service.auth.roles import Role, require
from service.auth.schemas import ROLES, SEE_ALL, Principal
from service.errors import Forbidden


def test_the_role_enum_is_the_list_tokens_are_checked_against() -> None:
    assert tuple(Role) == ROLES
    assert SEE_ALL <= set(Role)


@pytest.mark.parametrize("name", [n for n in dir(roles) if n.isupper()])
def test_every_role_set_names_known_roles_only(name: str) -> None:
    value = getattr(roles, name)
    assert value and all(isinstance(r, Role) for r in value), name


def test_require_refuses_everyone_outside_the_set_and_names_the_roles() -> None:
    for role in Role:
        who = Principal(sub="p", roles=frozenset({role}))
        if role in roles.SAR_READERS:
            assert require(who, roles.SAR_READERS) is who
        else:
            with pytest.raises(Forbidden) as e:
                require(who, roles.SAR_READERS)
            assert "sar_handler, auditor" in e.value.detail
    with pytest.raises(Forbidden):
        require(Principal(sub="nobody"), roles.DISCLOSURE_STAFF)
