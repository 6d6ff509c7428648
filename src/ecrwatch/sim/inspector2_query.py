"""Pure request logic of the simulated Inspector2: model validation, filter criteria and page tokens.

Filter semantics, as Inspector documents them: the filters given for one field are OR'ed, except that a
NOT_EQUALS filter excludes whatever it matches; the fields are AND'ed. A field that holds several values
(image tags, vulnerable packages) matches when any of its values does; a field the record lacks matches
only NOT_EQUALS. A field this simulator does not implement is refused with a ValidationException naming it,
never ignored: a fake that ignores a filter returns more than AWS would, and every test above it lies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StringShape, StructureShape

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse


@cache
def model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("inspector2")


def enum_of(shape: Shape) -> list[str]:
    return list(shape.enum) if isinstance(shape, StringShape) else []


@cache
def enum(shape_name: str) -> frozenset[str]:
    return frozenset(enum_of(model().shape_for(shape_name)))


@cache
def optional_members(shape_name: str) -> frozenset[str]:
    shape = model().shape_for(shape_name)
    assert isinstance(shape, StructureShape)
    return frozenset(shape.members) - frozenset(shape.required_members)


# --- errors ---


class ValidationError(SimError):
    """A ValidationException with the `reason` and `fields` members the model gives it."""

    def __init__(self, problems: Sequence[tuple[str, str]], reason: str = "FIELD_VALIDATION_FAILED") -> None:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        message = f"{count} validation {noun} detected: " + "; ".join(text for _, text in problems)
        super().__init__("ValidationException", message, 400)
        self.reason = reason
        self.fields = [{"name": name, "message": text} for name, text in problems]

    def response(self) -> SimResponse:
        payload = {"message": self.message, "reason": self.reason, "fields": self.fields}
        return SimResponse(
            400,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", "x-amzn-ErrorType": "ValidationException"},
        )


def invalid(name: str, text: str) -> ValidationError:
    return ValidationError([(name, text)])


# --- request validation against the service model ---


def _constraint(value: Any, path: str, rule: str) -> tuple[str, str]:
    shown = "null" if value is None else f"'{value}'"
    return path, f"Value {shown} at '{path}' failed to satisfy constraint: Member must {rule}"


def _check_range(
    shape: Shape, size: int | float, value: Any, path: str, what: str, problems: list[tuple[str, str]]
) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        problems.append(_constraint(value, path, f"have {what} greater than or equal to {low}"))
    if high is not None and size > high:
        problems.append(_constraint(value, path, f"have {what} less than or equal to {high}"))


def validate_input(shape: Shape, value: Any, path: str, problems: list[tuple[str, str]]) -> None:
    """Append (member path, message) for each way `value` breaks `shape`, in the wording AWS uses."""
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            problems.append(_constraint(value, path, "be a structure"))
            return
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(_constraint(None, _join(path, name), "not be null"))
        for name, item in value.items():
            if name in shape.members and item is not None:
                validate_input(shape.members[name], item, _join(path, name), problems)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            problems.append(_constraint(value, path, "be a list"))
            return
        _check_range(shape, len(value), value, path, "length", problems)
        for index, item in enumerate(value, 1):
            validate_input(shape.member, item, f"{path}.{index}.member", problems)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            problems.append(_constraint(value, path, "be a map"))
            return
        for key, item in value.items():
            validate_input(shape.key, key, f"{path}.{key}.key", problems)
            validate_input(shape.value, item, f"{path}.{key}.value", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(_constraint(value, path, "be a string"))
            return
        values = enum_of(shape)
        if values and value not in values:
            problems.append(_constraint(value, path, f"satisfy enum value set: [{', '.join(values)}]"))
        _check_range(shape, len(value), value, path, "length", problems)
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append(_constraint(value, path, f"satisfy regular expression pattern: {pattern}"))
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(_constraint(value, path, "be an integer"))
            return
        _check_range(shape, value, value, path, "value", problems)
    elif kind in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(_constraint(value, path, "be a number"))
            return
        _check_range(shape, value, value, path, "value", problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(_constraint(value, path, "be a boolean"))
    elif kind == "timestamp" and parse_timestamp(value) is None:
        problems.append(_constraint(value, path, "be a timestamp"))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check_shape(shape_name: str, value: Any) -> None:
    """Raise ValueError where `value` breaks the named model shape (for seed helpers: no impossible data)."""
    problems: list[tuple[str, str]] = []
    validate_input(model().shape_for(shape_name), value, shape_name, problems)
    if problems:
        raise ValueError("; ".join(text for _, text in problems))


def parse_timestamp(value: Any) -> float | None:
    """A request timestamp as epoch seconds: rest-json sends numbers; ISO 8601 is accepted too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return epoch(parsed)
    return None


def epoch(moment: datetime) -> float:
    """Epoch seconds; a naive datetime is taken as UTC (never the local time zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def parse_request(request: SimRequest) -> dict[str, Any]:
    """The request's parameters, checked against the operation's input shape."""
    try:
        params = request.json()
    except ValueError as exc:
        raise ValidationError([("body", f"Could not parse the request body as JSON: {exc}")], "CANNOT_PARSE") from exc
    if not isinstance(params, dict):
        raise ValidationError([("body", "The request body must be a JSON object")], "CANNOT_PARSE")
    problems: list[tuple[str, str]] = []
    shape = model().operation_model(request.operation).input_shape
    if shape is not None:
        validate_input(shape, params, "", problems)
    if problems:
        raise ValidationError(problems)
    return params


# --- filter criteria ---

Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class Field:
    """How one filter field reads a record: `values(record)` gives what the filters compare against.

    kind: "string" (StringFilter / CoverageStringFilter), "number" (NumberFilter), "date" (DateFilter),
    "package" (PackageFilter; values are objects with the attributes in PACKAGE_ATTRIBUTES).
    """

    kind: str
    values: Callable[[Any], Sequence[Any]]


# PackageFilter member -> (attribute of a package object, kind). Members not listed are refused.
PACKAGE_ATTRIBUTES: Mapping[str, tuple[str, str]] = {
    "name": ("name", "string"),
    "version": ("version", "string"),
    "epoch": ("epoch", "number"),
    "release": ("release", "string"),
    "architecture": ("arch", "string"),
    "sourceLayerHash": ("source_layer_hash", "string"),
    "filePath": ("file_path", "string"),
}


def compile_criteria(
    criteria: Mapping[str, Any], fields: Mapping[str, Field], path: str, shape_name: str
) -> list[Predicate]:
    """One predicate per filtered field (all must hold); unknown or unimplemented fields are refused."""
    shape = model().shape_for(shape_name)
    assert isinstance(shape, StructureShape)
    known = frozenset(shape.members)
    predicates: list[Predicate] = []
    unsupported = []
    for name, filters in criteria.items():
        field = fields.get(name)
        if field is None:
            why = (
                "is not supported by the Inspector2 simulator" if name in known else f"is not a member of {shape_name}"
            )
            unsupported.append((f"{path}.{name}", f"Filter field '{name}' {why}"))
            continue
        predicates.append(_field_predicate(field, filters, f"{path}.{name}"))
    if unsupported:
        raise ValidationError(unsupported)
    return predicates


def _field_predicate(field: Field, filters: list[dict[str, Any]], path: str) -> Predicate:
    values_of = field.values
    if field.kind == "string":
        strings = string_test(filters)
        return lambda record: strings(values_of(record))
    if field.kind in ("number", "date"):
        numbers = range_test(filters, field.kind)
        return lambda record: numbers(values_of(record))
    tests = [_package_test(f, f"{path}.{i}.member") for i, f in enumerate(filters, 1)]
    return lambda record: any(test(package) for package in values_of(record) for test in tests)


def string_test(filters: Sequence[Mapping[str, Any]]) -> Callable[[Sequence[str]], bool]:
    equals = {f["value"] for f in filters if f["comparison"] == "EQUALS"}
    prefixes = tuple(f["value"] for f in filters if f["comparison"] == "PREFIX")
    excluded = {f["value"] for f in filters if f["comparison"] == "NOT_EQUALS"}
    positive = bool(equals or prefixes)

    def test(values: Sequence[str]) -> bool:
        if positive and not any(v in equals or (prefixes and v.startswith(prefixes)) for v in values):
            return False
        return not (excluded and any(v in excluded for v in values))

    return test


def range_test(filters: Sequence[Mapping[str, Any]], kind: str) -> Callable[[Sequence[float]], bool]:
    low_key, high_key = ("startInclusive", "endInclusive") if kind == "date" else ("lowerInclusive", "upperInclusive")
    ranges = []
    for f in filters:
        low, high = f.get(low_key), f.get(high_key)
        if kind == "date":
            low = parse_timestamp(low) if low is not None else None
            high = parse_timestamp(high) if high is not None else None
        ranges.append((float("-inf") if low is None else low, float("inf") if high is None else high))

    def test(values: Sequence[float]) -> bool:
        return any(low <= v <= high for v in values for low, high in ranges)

    return test


def _package_test(package_filter: Mapping[str, Any], path: str) -> Callable[[Any], bool]:
    tests: list[Callable[[Any], bool]] = []
    unsupported = []
    for member, condition in package_filter.items():
        if member not in PACKAGE_ATTRIBUTES:
            unsupported.append((f"{path}.{member}", f"Package filter '{member}' is not supported by the simulator"))
            continue
        attribute, kind = PACKAGE_ATTRIBUTES[member]
        tests.append(_attribute_test(attribute, kind, condition))
    if unsupported:
        raise ValidationError(unsupported)
    return lambda package: all(test(package) for test in tests)


def _attribute_test(attribute: str, kind: str, condition: Mapping[str, Any]) -> Callable[[Any], bool]:
    def values(package: Any) -> Sequence[Any]:
        value = getattr(package, attribute)
        return () if value is None else (value,)

    if kind == "string":
        string = string_test([condition])
        return lambda package: string(values(package))
    number = range_test([condition], kind)
    return lambda package: number(values(package))


def equals_values(criteria: Mapping[str, Any], name: str) -> list[str] | None:
    """The values of field `name` when it is filtered by EQUALS only (an index can answer it), else None."""
    filters = criteria.get(name)
    if not filters or any(f["comparison"] != "EQUALS" for f in filters):
        return None
    return [f["value"] for f in filters]


# --- page tokens ---


def fingerprint(*parts: Any) -> str:
    """Identifies a query, so that a token is honoured only by the query that issued it."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Leading bytes that are not UTF-8: botocore's paginator, given a StartingToken, first tries to read it as its
# own base64 JSON; this makes it take ours as the opaque service token it is (as it takes AWS's).
_TOKEN_MAGIC = b"\xffi2"


def encode_token(query: str, key: Sequence[Any]) -> str:
    """An opaque token: the position after the last item returned (a sort key), for this query only."""
    return base64.b64encode(_TOKEN_MAGIC + json.dumps({"q": query, "k": list(key)}).encode()).decode()


def decode_token(token: str | None, query: str) -> tuple[Any, ...] | None:
    if not token:
        return None
    try:
        raw = base64.b64decode(token.encode(), validate=True)
        if not raw.startswith(_TOKEN_MAGIC):
            raise ValueError("not a token of ours")
        data = json.loads(raw[len(_TOKEN_MAGIC) :])
        if not isinstance(data, dict) or data.get("q") != query or not isinstance(data.get("k"), list):
            raise ValueError("not this query's token")
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise invalid("nextToken", "The nextToken is not valid for this request") from exc
    return tuple(_tuples(item) for item in data["k"])


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
