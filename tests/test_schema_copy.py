"""The copy of the report schema in tests/data is the team's schema, byte for byte, and a valid schema."""

from __future__ import annotations

import json

import jsonschema

from conftest import SHARED_COPY, SHARED_ORIGINAL

NAME = ("schema", "check-report.v1.json")


def test_the_copy_is_a_valid_json_schema_for_version_1() -> None:
    schema = json.loads(SHARED_COPY.joinpath(*NAME).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"] == {"const": "1"}


def test_the_copy_matches_the_shared_original_wherever_it_is_present() -> None:
    original = SHARED_ORIGINAL.joinpath(*NAME)
    if original.is_file():  # beside a team checkout; a lone clone has only the copy, checked above
        assert SHARED_COPY.joinpath(*NAME).read_bytes() == original.read_bytes()
