"""The console's forms. POST forms are FlaskForms (each carries its CSRF token); filters are plain GET forms."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, HiddenField, IntegerField, PasswordField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from market.admin.i18n import (
    CONTRACT_STATUSES,
    DELIVERY_STATUSES,
    GROUPINGS,
    LANGUAGES,
    POLICIES,
    PRODUCTS,
    RUN_STATUSES,
)
from market.models.common import PricePolicy
from market.services.reports import GroupBy


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


class DeliveryFilterForm(FilterForm):
    status = SelectField(_l("Status"), choices=_choices(DELIVERY_STATUSES, _l("Any status")), default="")
    contract = IntegerField(
        _l("Contract"), validators=[Optional(), NumberRange(min=1, message=_l("A contract number, such as 12."))]
    )


class PeriodForm(FilterForm):
    """An optional period, as the API's reports take it: ?from=2020-10-01&to=2020-12-31 (both days counted)."""

    date_from = DateField(_l("From"), name="from", validators=[Optional()])
    date_to = DateField(_l("To"), name="to", validators=[Optional()])

    def validate_date_to(self, field: DateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The period ends before it starts."))

    def period(self) -> tuple:
        """(from, to) when both are valid, else (None, None): a bad period shows everything, with its error."""
        if self.date_from.errors or self.date_to.errors:
            return None, None
        return self.date_from.data, self.date_to.data


class SummaryForm(PeriodForm):
    group_by = SelectField(_l("Group by"), choices=_choices(GROUPINGS), default=GroupBy.product.value)

    def grouping(self) -> GroupBy:
        return GroupBy(self.group_by.data) if self.group_by.data and not self.group_by.errors else GroupBy.product


class CloseContractForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            DataRequired(message=_l("Say why the contract is closed short.")),
            Length(max=500, message=_l("At most 500 characters.")),
        ],
        description=_l("Kept in the contract's history, for the buyer and the cooperative to read."),
        render_kw={"rows": 2, "maxlength": 500},
    )
