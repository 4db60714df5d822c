"""The console's forms. POST forms are FlaskForms (each carries its CSRF token); filters are plain GET forms."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, HiddenField, IntegerField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from market.admin.i18n import CONTRACT_STATUSES, LANGUAGES, POLICIES, PRODUCTS, RUN_STATUSES
from market.models.common import PricePolicy


def _choices(labels: dict, anything: object | None = None) -> list[SelectChoice]:
    """Options for a code's labels (translated when rendered), after an "any" option if given."""
    first = [] if anything is None else [SelectChoice("", anything)]
    return first + [SelectChoice(code.value, text) for code, text in labels.items()]


class SignInForm(FlaskForm):
    token = PasswordField(
        _l("Admin API token"),
        validators=[DataRequired(message=_l("Paste the admin token the office was given."))],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class ActionForm(FlaskForm):
    """A button that changes something (approve, reject, sign out): only the CSRF token."""


class LanguageForm(FlaskForm):
    lang = SelectField(choices=[SelectChoice(code, name) for code, (name, _) in LANGUAGES.items()])
    next = HiddenField()


class RequestRunForm(FlaskForm):
    product = SelectField(_l("Product"), choices=_choices(PRODUCTS, _l("Every product")), default="")
    policy = SelectField(
        _l("Pricing policy"),
        choices=_choices(POLICIES),
        default=PricePolicy.midpoint.value,
    )
    poverty_weight_per_tonne = DecimalField(
        _l("Poverty weight, yuan per tonne"),
        places=2,
        default=Decimal("0"),
        validators=[
            InputRequired(message=_l("Enter a weight; 0 maximises plain gains from trade.")),
            NumberRange(min=0, max=100_000, message=_l("Between 0 and 100,000 yuan per tonne.")),
        ],
        description=_l("Added for trades of cooperatives with registered poor households; 0 for none."),
    )


class FilterForm(FlaskForm):
    """A GET form of list filters: build it with formdata=request.args; no CSRF token in links."""

    class Meta:
        csrf = False


class RunFilterForm(FilterForm):
    status = SelectField(_l("Status"), choices=_choices(RUN_STATUSES, _l("Any status")), default="")


class ContractFilterForm(FilterForm):
    status = SelectField(_l("Status"), choices=_choices(CONTRACT_STATUSES, _l("Any status")), default="")
    product = SelectField(_l("Product"), choices=_choices(PRODUCTS, _l("Every product")), default="")
    match_run = IntegerField(
        _l("Match run"), validators=[Optional(), NumberRange(min=1, message=_l("A match run number, such as 12."))]
    )
