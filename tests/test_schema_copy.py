"""The copy of the report schema in tests/data is the team's schema, byte for byte, and a valid schema.

The team's original sits in ../shared beside the repository (as in CI and every team checkout), and there the
copy must equal it. CI (CI=true) without it fails: a silent pass would hide a copy gone stale. A user's lone
clone (the README's quick start) has no ../shared: there the copy must still be the one last synced (its digest
is recorded beside it, in the same commit as the copy), so a hand edit of the copy alone is caught.
"""

from __future__ import annotations

import hashlib
import json
import os

import jsonschema

from conftest import SHARED_COPY, SHARED_ORIGINAL

NAME = ("schema", "check-report.v1.json")
DIGEST_FILE = SHARED_COPY / "schema" / "check-report.v1.json.sha256"


def test_the_copy_is_a_valid_json_schema_for_version_1() -> None:
    schema = json.loads(SHARED_COPY.joinpath(*NAME).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"] == {"const": "1"}


def test_the_copy_matches_the_shared_original() -> None:
    copy = SHARED_COPY.joinpath(*NAME).read_bytes()
    original = SHARED_ORIGINAL.joinpath(*NAME)
    if original.is_file():
        assert copy == original.read_bytes(), f"{SHARED_COPY.joinpath(*NAME)} differs from {original}: sync it"
        return
    assert os.environ.get("CI") != "true", (
        f"the team's schema {original} is missing in CI, so the copy cannot be checked against it: lay the team's "
        "shared folder beside the clone"
    )
    assert hashlib.sha256(copy).hexdigest() == DIGEST_FILE.read_text().split()[0]


def test_the_recorded_digest_is_the_copys() -> None:
    """The digest a lone clone checks against is the copy's own (updated whenever the copy is synced)."""
    copy = SHARED_COPY.joinpath(*NAME).read_bytes()
    assert DIGEST_FILE.read_text().split()[0] == hashlib.sha256(copy).hexdigest(), (
        f"after syncing the copy, record its digest: sha256sum {SHARED_COPY.joinpath(*NAME).name} > {DIGEST_FILE.name}"
        f" (in {DIGEST_FILE.parent})"
    )
