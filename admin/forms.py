"""WTForms forms for staff, publishing and import (CSRF is checked centrally by the guard)."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    EmailField,
    FileField,
    Form,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from .auth import MIN_PASSWORD_LENGTH
from .roles import ROLE_HELP, ROLES

EMAIL = r"^[^@\s]+@[^@\s]+$"
ROLE_CHOICES = [SelectChoice(r, f"{r} ({ROLE_HELP[r]})") for r in ROLES]


class LoginForm(Form):
    email = EmailField("E-mail", [DataRequired(), Length(max=320)])
    password = PasswordField("Password", [DataRequired(), Length(max=1000)])
    next = StringField()


class PasswordChangeForm(Form):
    current = PasswordField("Current password", [DataRequired()])
    new = PasswordField("New password", [DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1000)])
    confirm = PasswordField("New password again", [EqualTo("new", message="The two passwords differ")])


class NewUserForm(Form):
    email = EmailField(
        "E-mail", [DataRequired(), Regexp(EMAIL, message="Enter an e-mail address"), Length(max=320)]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default="viewer")
    password = PasswordField("Initial password", [DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1000)])


class EditUserForm(Form):
    role = SelectField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Active (may sign in)")
    password = PasswordField(
        "New password (leave empty to keep)", [Optional(), Length(min=MIN_PASSWORD_LENGTH, max=1000)]
    )


class PublishForm(Form):
    message = TextAreaField("What changed (shown in the version history)", [DataRequired(), Length(max=2000)])


class RollbackForm(Form):
    message = TextAreaField("Why roll back", [DataRequired(), Length(max=2000)])


class ImportForm(Form):
    file = FileField("Bundle file (.json)")
    text = TextAreaField("…or paste the bundle JSON")
    replace = BooleanField("Yes, replace the current draft")
