"""The one validation of a submission, shared by the HTML form and the JSON API."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from registration import errors, selectors
from registration.models import NAME_MAX_LENGTH, Registration, validate_login, validate_phone
from registration.services import RegistrationData, registration_create

FIELDS = ("first_name", "last_name", "login", "email", "phone")
# Separators people type in phone numbers; they are dropped before the digits are checked.
PHONE_SEPARATORS = re.compile(r"[\s().-]")


class RegistrationForm(forms.Form):
    first_name = forms.CharField(
        max_length=NAME_MAX_LENGTH, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        max_length=NAME_MAX_LENGTH, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    login = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        validators=[validate_login],
        help_text="Letters, digits, dots, underscores and hyphens; up to 35 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = forms.CharField(
        max_length=32,
        help_text="4 to 15 digits, optionally starting with +; spaces and dashes are fine.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )

    def autofocus_first_error(self) -> None:
        """Put the cursor in the first field with an error, so it is what a screen reader announces first."""
        for name in self.fields:
            if name in self.errors:
                self.fields[name].widget.attrs["autofocus"] = True
                return

    def clean_phone(self) -> str:
        phone = PHONE_SEPARATORS.sub("", self.cleaned_data["phone"])
        validate_phone(phone)
        return phone

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        # One query for both, once the fields are clean: each is asked about only if it is valid on its own.
        taken = selectors.taken(login=cleaned.get("login"), email=cleaned.get("email"))
        if taken.login:
            self.add_error("login", forms.ValidationError(errors.LOGIN_TAKEN, code="login_taken"))
        if taken.email:
            self.add_error("email", forms.ValidationError(errors.EMAIL_PENDING, code="email_pending"))
        return cleaned


def submit(form: RegistrationForm) -> Registration | None:
    """Create the registration ``form`` describes; on refusal return None with the errors on the form."""
    if not form.is_valid():
        return None
    cleaned = form.cleaned_data
    data = RegistrationData(
        first_name=cleaned["first_name"],
        last_name=cleaned["last_name"],
        login=cleaned["login"],
        email=cleaned["email"],
        phone=cleaned["phone"],
    )
    try:
        return registration_create(data=data)
    except errors.RegistrationError as exc:
        for field, messages in exc.errors.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
        return None


def error_dict(form: forms.Form) -> dict[str, list[str]]:
    """Return ``{field: [message, ...]}`` for a JSON body."""
    data: dict[str, Any] = form.errors.get_json_data()
    return {field: [item["message"] for item in items] for field, items in data.items()}
