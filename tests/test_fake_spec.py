"""The fake Bot API's stand-in specification (aiogram's method models, used on a clone without
the shared Bot API file) agrees with the specification on what each method returns."""

from __future__ import annotations

import pytest

from tests.fakes.spec import SPEC_PATH, _from_aiogram, load_spec


def test_the_fallback_knows_what_every_method_returns():
    fallback = _from_aiogram()
    assert fallback.methods["setMyCommands"].returns == ("Boolean",)
    assert fallback.methods["getUpdates"].returns == ("Array of Update",)
    assert fallback.methods["editMessageText"].returns == ("Message", "Boolean")
    assert all(method.returns for method in fallback.methods.values())


@pytest.mark.skipif(not SPEC_PATH.is_file(), reason=f"no Bot API specification at {SPEC_PATH}")
def test_the_fallback_agrees_with_the_specification():
    spec, fallback = load_spec(), _from_aiogram()
    shared = spec.methods.keys() & fallback.methods.keys()
    assert len(shared) > 100

    def same(expected: tuple[str, ...], given: tuple[str, ...]) -> bool:
        # aiogram names the members of an abstract type (ChatMember -> ChatMemberOwner, ...).
        return set(expected) == set(given) or all(
            any(g.startswith(e) for e in expected) for g in given
        )

    differing = {
        name: (spec.methods[name].returns, fallback.methods[name].returns)
        for name in shared
        if not same(spec.methods[name].returns, fallback.methods[name].returns)
    }
    assert not differing
