"""Schemathesis over the whole OpenAPI document, as each role, against the Flask app (WSGI).

For every operation it generates valid and invalid requests (a few of each, derandomized, so
a run is repeatable) and checks that nothing is a server error and that every answer is
documented: its status code, its content type, its headers and its body's schema.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.conftest import DEEP_EXAMPLES, NoJobs, tell

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Valid and invalid requests per operation: a few each in CI; MARKET_FUZZ_EXAMPLES of each kind when asked.
EXAMPLES = {GenerationMode.POSITIVE: DEEP_EXAMPLES or 8, GenerationMode.NEGATIVE: DEEP_EXAMPLES or 5}


@pytest.mark.fuzz
@pytest.mark.parametrize("role", ["admin", "cooperative", "buyer"])
def test_every_operation_answers_as_documented(app, market, role, database_url):
    app.extensions["market.jobs"] = NoJobs()  # fuzzed match runs stay queued: no background writer
    caller = next(caller for caller in market.callers if caller.role == role)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/"):
            continue
        operations += 1
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=examples,
                derandomize=not DEEP_EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )
            def check(case) -> None:
                response = case.call_and_validate(headers=dict(caller.headers), checks=CHECKS)
                statuses[response.status_code] += 1

            try:
                check()
            except (Exception, BaseExceptionGroup) as error:  # all operations are tried; failures reported together
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {error}")

    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    tell(
        f"schemathesis-{backend}-{role}",
        [
            f"schemathesis [{backend}, {role}]: {operations} operations, {sum(statuses.values())} requests; "
            + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        ],
    )
    assert operations > 30
    assert not failures, "\n\n".join(failures)
