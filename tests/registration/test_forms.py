from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registration import errors
from registration.forms import RegistrationForm
from registration.models import Status
from tests.registration.factories import make_registration, valid

pytestmark = pytest.mark.django_db


def test_valid_input_is_cleaned_and_phone_separators_dropped() -> None:
    form = RegistrationForm(valid(first_name="  Ada ", phone="+380 (67) 123-45-67"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["first_name"] == "Ada"
    assert form.cleaned_data["phone"] == "+380671234567"


@pytest.mark.parametrize("field", ["first_name", "last_name", "login", "email", "phone"])
def test_every_field_is_required(field: str) -> None:
    form = RegistrationForm(valid(**{field: "   "}))
    assert not form.is_valid()
    assert list(form.errors) == [field]


@pytest.mark.parametrize("field", ["first_name", "last_name", "login"])
def test_names_and_login_are_at_most_35_characters(field: str) -> None:
    assert RegistrationForm(valid(**{field: "a" * 35})).is_valid()
    form = RegistrationForm(valid(**{field: "a" * 36}))
    assert not form.is_valid()
    assert list(form.errors) == [field]


@pytest.mark.parametrize("login", ["ada l", "ada@home", "ада", "ada/l", "ada+1"])
def test_login_outside_the_charset_is_refused(login: str) -> None:
    form = RegistrationForm(valid(login=login))
    assert not form.is_valid()
    assert form.errors["login"] == [errors.LOGIN_CHARSET]


@pytest.mark.parametrize("email", ["ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "a b@example.com"])
def test_malformed_email_is_refused(email: str) -> None:
    form = RegistrationForm(valid(email=email))
    assert not form.is_valid()
    assert list(form.errors) == ["email"]


@pytest.mark.parametrize("phone", ["1" * 15, "+" + "1" * 15, "0671234567", "1234", "+1234"])
def test_phone_of_4_to_15_digits_with_optional_plus_is_accepted(phone: str) -> None:
    assert RegistrationForm(valid(phone=phone)).is_valid()


@pytest.mark.parametrize("phone", ["1" * 16, "+" + "1" * 16, "123", "+123", "12+34", "++1234", "067 CALL ME", "+"])
def test_phone_that_is_not_4_to_15_digits_is_refused(phone: str) -> None:
    form = RegistrationForm(valid(phone=phone))
    assert not form.is_valid()
    assert form.errors["phone"] == [errors.PHONE_FORMAT]


def test_login_of_an_existing_account_is_refused_case_insensitively() -> None:
    User.objects.create_user(username="Ada.L")
    form = RegistrationForm(valid(login="ada.l"))
    assert not form.is_valid()
    assert form.errors == {"login": [errors.LOGIN_TAKEN]}


@pytest.mark.parametrize("status", [Status.PENDING, Status.QUEUED, Status.PROCESSING])
def test_login_and_email_of_a_registration_in_flight_are_refused(status: Status) -> None:
    make_registration(login="ADA.L", email="ADA@example.com", status=status)
    form = RegistrationForm(valid())
    assert not form.is_valid()
    assert form.errors == {"login": [errors.LOGIN_TAKEN], "email": [errors.EMAIL_PENDING]}


@pytest.mark.parametrize("status", [Status.FAILED, Status.REJECTED])
def test_login_and_email_of_a_failed_or_rejected_registration_may_be_used_again(status: Status) -> None:
    make_registration(status=status)
    assert RegistrationForm(valid()).is_valid()


def test_form_asks_the_database_once_for_every_duplicate_rule() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert RegistrationForm(valid()).is_valid()
    assert len(queries) == 1


def test_login_is_not_checked_for_duplicates_when_it_is_malformed() -> None:
    make_registration(login="ada l", email="other@example.com")
    form = RegistrationForm(valid(login="ada l"))
    assert not form.is_valid()
    assert form.errors == {"login": [errors.LOGIN_CHARSET]}
