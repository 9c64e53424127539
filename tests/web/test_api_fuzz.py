"""schemathesis over the API's own OpenAPI document: no answer is a 5xx, every answer matches the
document (status, content type, schema, headers), on a database holding cases in several states.

The app runs in-process (ASGI) on a seeded SQLite database; every request carries the bearer
token of Admin La-Lisa (who may record complaints and sees personal data) or, for the second
test, of a kecamatan team (who sees only its own cases, masked: no answer to it holds any
personal data of any case).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from engine.adapters.web.app import create_app
from engine.app.assembly import Application
from tests.conftest import COMPLAINT, FakeClock
from tests.web.conftest import personal_values, seeded_application


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Application, dict[str, str]]]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    application = seeded_application(f"sqlite:///{folder / 'treckk.db'}", FakeClock(), folder)
    commands = application.commands
    first = commands.submit("rina", COMPLAINT).number
    commands.advance(first, "teruskan", "rina")
    second = commands.submit("rina", {**COMPLAINT, "kecamatan": "halong"}).number
    commands.advance(second, "teruskan", "rina")
    commands.advance(second, "minta_verifikasi", "ahmad", {"instruksi": "Cek lokasi."})
    tokens = {username: f"Bearer {application.credentials.create_token(username, 'fuzz')[1]}"
              for username in ("rina", "tim_paringin")}
    yield application, tokens
    application.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed: tuple[Application, dict[str, str]]) -> schemathesis.BaseSchema:
    application, _ = fuzzed
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(application))


OPERATIONS = ["GET /api/v1/inbox", "GET /api/v1/cases", "POST /api/v1/cases", "GET /api/v1/cases/{number}",
              "GET /api/v1/cases/{number}/history", "GET /api/v1/cases/{number}/notices",
              "POST /api/v1/cases/{number}/advance", "GET /api/v1/staff", "GET /api/v1/me",
              "GET /api/v1/cases/{number}/attachments", "GET /api/v1/cases/{number}/attachments/{name}",
              "GET /api/v1/cases/{number}/attachments/{name}/thumbnail", "GET /api/v1/cases/{number}/proof"]
"""Every operation of the document (test_api.py asserts the document has exactly these paths)."""
SEMANTIC = [positive_data_acceptance]
"""Left out: the body's ``input`` is a free object in the document; which fields a trigger takes, and
their types, come from the deployed definition, so a schema-valid body may rightly be refused (422)."""
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _fuzz(schema: schemathesis.BaseSchema, label: str, mode: GenerationMode, authorization: str,
          hidden: frozenset[str] = frozenset()) -> None:
    """Fuzz one operation; no answer may contain any of ``hidden`` (personal data the caller may not see)."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"Authorization": authorization}, excluded_checks=SEMANTIC)
        assert not [value for value in hidden if value in response.text], (label, response.text[:300])

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_answers_every_generated_request_as_documented(
        api_schema: schemathesis.BaseSchema, fuzzed: tuple[Application, dict[str, str]], label: str,
        mode: GenerationMode) -> None:
    _fuzz(api_schema, label, mode, fuzzed[1]["rina"])


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_answers_a_kecamatan_team_as_documented(
        api_schema: schemathesis.BaseSchema, fuzzed: tuple[Application, dict[str, str]], label: str) -> None:
    _fuzz(api_schema, label, GenerationMode.POSITIVE, fuzzed[1]["tim_paringin"],
          frozenset(personal_values(fuzzed[0])))
