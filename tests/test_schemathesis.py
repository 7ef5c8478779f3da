"""The API against its own OpenAPI document, with schemathesis: requests generated from /api/openapi.json.

Run in process (WSGI) against the session's demo index. For every generated
request, valid and invalid: never a 5xx, every 4xx in the one error shape, the
status code and body as the document says, and each answer within a time bound.
A bounded number of examples per operation keeps this to seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from searchsvc import create_app
from searchsvc.analytics.recorder import Recorder
from searchsvc.engine.search import SearchService

MAX_EXAMPLES = 40
MAX_SECONDS = 5.0  # a query is answered in milliseconds; seconds would be a hang or a pathological query


def one_error_shape(ctx, response, case) -> None:
    """Every 4xx/5xx is ``{"error": {"status": <the status>, "message": "<text>"}}`` and nothing else."""
    if response.status_code < 400:
        return None
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), content_type
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"status", "message"}, body
    assert body["error"]["status"] == response.status_code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip(), body
    return None


def answered_in_time(ctx, response, case) -> None:
    assert response.elapsed < MAX_SECONDS, f"{case.path} took {response.elapsed:.1f} s"
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          one_error_shape, answered_in_time]


# The document is read when this module is imported; the index is opened only by the first search, so the app
# can be made now and pointed at the session's demo index (built by a fixture) before any request.
# (schemathesis.pytest.from_fixture would do this lazily, but it fails under pytest 9: no Node._nodeid.)
APP = create_app({"INDEX_DIR": "demo-index-not-yet-built", "TESTING": True})
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP)


@pytest.fixture(autouse=True)
def _serve_the_demo_index(tmp_index: Path, tmp_path: Path) -> None:
    APP.extensions["searchsvc"] = SearchService(tmp_index, APP.config["MAX_QUERY_CHARS"])
    # The searches are recorded, as served (whatever the API is sent, recording must not break it), but under
    # tmp_path, not beside the placeholder index in the working directory.
    APP.extensions["searchsvc.analytics"] = Recorder(tmp_path / "searches.sqlite3")


SETTINGS = {"deadline": None, "derandomize": True,
            "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.filter_too_much]}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, **SETTINGS)
def test_api_conforms_to_its_openapi_document(case) -> None:
    case.call_and_validate(checks=CHECKS)


# The same document, against a service with no index to serve: every answer is then a documented 503.
UNAVAILABLE_APP = create_app({"INDEX_DIR": "no-index-here/index", "TESTING": True})
unavailable_schema = schemathesis.openapi.from_wsgi("/api/openapi.json", UNAVAILABLE_APP)


@unavailable_schema.parametrize()
@settings(max_examples=10, **SETTINGS)
def test_api_without_an_index_conforms_to_its_openapi_document(case) -> None:
    response = case.call_and_validate(checks=[c for c in CHECKS if c is not not_a_server_error])
    if case.path == "/api/openapi.json" or case.method.upper() != "GET":
        assert response.status_code in (200, 405)
    elif case.path == "/api/suggest" and not (case.query or {}).get("q", "").strip():
        assert response.status_code == 200  # nothing typed: no suggestions, without asking the index
    else:
        # 400: a request refused before searching
        assert response.status_code in (400, 503), (case.path, case.query, response.status_code)
