"""The OpenAPI schema covers the whole API, and schemathesis finds no failure against it.

schemathesis generates requests for every operation from the schema and checks each response:
no 5xx, the status code is documented, the body matches the documented schema.
"""

import re

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import positive_data_acceptance

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def api_schema(phase, participant, upload):
    upload("npz")  # a finished submission, so detail endpoints have something to find
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.mark.slow
def test_api_conforms_to_its_schema(transactional_db, api_schema, participant):
    """Every operation, as the participant and anonymously (schemathesis' pytest plugin predates pytest 9,
    so operations are driven directly). A transactional database: the upload views run outside the
    request transaction, as in production, so no test-wide transaction may wrap them."""
    token, _ = Token.objects.get_or_create(user=participant)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        for headers in ({"Authorization": f"Token {token.key}"}, {}):
            _exercise(operation, headers)


def _exercise(operation, headers):
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        # A schema-valid request may still be refused on its meaning (a wrong password, a phase
        # that is closed); what must hold is: no 5xx, documented codes, documented bodies.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()


def _api_routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            yield from _api_routes(pattern.url_patterns, route)
        else:
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_schema_lists_every_api_route(db, client):
    documented = set(client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"])
    api_routes = {
        r
        for r in _api_routes(get_resolver().url_patterns)
        if r.startswith("/api/v1/") and not r.endswith("/schema/")
    }
    assert len(api_routes) >= 12
    assert api_routes <= documented, api_routes - documented


def test_docs_pages_are_served_without_a_cdn(db, client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html and "cdn." not in html and "jsdelivr" not in html


@pytest.mark.django_db
def test_one_schema_url_and_docs_that_load_nothing_from_other_sites(client):
    assert client.get("/api/v1/schema/")["Location"] == "/api/schema/"
    assert client.get("/api/schema/").status_code == 200
    for page in ("/api/redoc/", "/api/docs/"):
        body = client.get(page).content.decode()
        assert not re.findall(r"""(?:src|href)=["']https?://""", body), page
