"""The people rules with no database: the password rule table, addresses as user ids,
and a user's life from invitation to disabled."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from argon2 import extract_parameters

from smsledger.adapters.passwords import DUMMY_HASH, DUMMY_PHRASE, hash_password, verify_password
from smsledger.domain.errors import ConflictError, InvalidRequestError, PasswordRuleError
from smsledger.domain.users import User, check_password, normalise_email, user_id_for

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("", "at least 10 characters"),
        ("Abcdefgh1", "at least 10 characters"),  # 9
        ("abcdefghij", "at least one digit"),
        ("Abcdefghij", "at least one digit"),
        ("abcdefghi1", "at least one capital letter"),
        ("1234567890", "at least one capital letter"),
    ],
)
def test_a_password_that_breaks_the_rule_is_refused_naming_the_rule(
    password: str, rule: str
) -> None:
    with pytest.raises(PasswordRuleError) as caught:
        check_password(password)
    assert caught.value.rule == rule
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    "password", ["Abcdefghi1", "correct Horse 9 battery", "ÅÄÖåäöxyz1", "P" + "a" * 1000 + "1"]
)
def test_ten_characters_with_a_digit_and_a_capital_letter_are_enough(password: str) -> None:
    assert check_password(password) == password


@pytest.mark.parametrize("bad", ["Abcdefghi1\x00", "Abcdefghi1\n", "A1" + "x" * 1023, 1234567890])
def test_control_characters_absurd_lengths_and_non_strings_are_malformed(bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        check_password(bad)


def test_an_address_is_one_user_whatever_its_case_or_spaces() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    assert user_id_for("Ada@Example.com") == user_id_for("ada@example.com")
    assert user_id_for("ada@example.com") != user_id_for("bob@example.com")
    for bad in ("ada", "ada@", "@example.com", "ada@example", "a\x00@example.com", 3):
        with pytest.raises(InvalidRequestError):
            normalise_email(bad)


def test_a_user_is_invited_sets_a_password_and_can_be_disabled_and_enabled() -> None:
    user = User.invite(uuid4(), "Ada@Example.com", " Ada ", "sender", NOW)
    assert (user.email, user.name, user.role, user.state) == (
        "ada@example.com",
        "Ada",
        "sender",
        "invited",
    )
    assert user.id == user_id_for("ada@example.com")
    assert not user.can_log_in
    user.set_password(hash_password("Abcdefghi1"), NOW)
    assert user.state == "active"
    assert user.can_log_in
    assert user.disable(NOW) is True
    assert user.disable(NOW) is False
    assert not user.can_log_in
    with pytest.raises(ConflictError):
        user.set_password(hash_password("Abcdefghi2"), NOW)
    assert user.enable(NOW) is True
    assert user.state == "active"


def test_an_enabled_user_who_never_set_a_password_is_invited_again() -> None:
    user = User.invite(uuid4(), "bob@example.com", "Bob", "finance", NOW)
    user.disable(NOW)
    user.enable(NOW)
    assert user.state == "invited"


def test_only_a_hash_is_ever_kept() -> None:
    user = User.invite(uuid4(), "ada@example.com", "Ada", "admin", NOW)
    with pytest.raises(InvalidRequestError):
        user.set_password("Abcdefghi1", NOW)


def test_verifying_a_password_against_no_hash_is_false() -> None:
    hashed = hash_password("Abcdefghi1")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "Abcdefghi1") is True
    assert verify_password(hashed, "Abcdefghi2") is False
    assert verify_password(None, "Abcdefghi1") is False
    assert verify_password("not a hash", "Abcdefghi1") is False


def test_the_kept_dummy_hash_costs_what_a_real_hash_costs() -> None:
    # A login with an unknown address is verified against it instead of a user's hash:
    # it must be a real argon2id hash (its phrase verifies) with the parameters every new
    # hash gets, or a wrong address would answer in another time than a wrong password.
    assert verify_password(DUMMY_HASH, DUMMY_PHRASE) is True
    assert extract_parameters(DUMMY_HASH) == extract_parameters(hash_password("Abcdefghi1"))


@pytest.mark.parametrize(("name", "role"), [("", "admin"), ("A\x07", "admin"), ("A", "operator")])
def test_a_user_needs_a_name_and_an_account_role(name: str, role: str) -> None:
    with pytest.raises(InvalidRequestError):
        User.invite(uuid4(), "ada@example.com", name, role, NOW)
