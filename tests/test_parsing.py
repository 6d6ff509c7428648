"""The lean JSON response parser gives botocore's own result, for every operation of the services ecrwatch
calls, on responses shaped as AWS sends them and on ones that are not (nulls, unknown members, integers
where the model says double, timestamps as epoch numbers and as text)."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from botocore.parsers import ResponseParserFactory

from ecrwatch.parsing import LeanJSONParser, LeanRestJSONParser, parse_timestamp, parser_factory

SERVICES = ("ecs", "ecr", "eks", "inspector2")


def _value(shape: Shape, rng: random.Random, depth: int) -> Any:
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        members = list(shape.members.items())
        if shape.is_tagged_union and members:  # exactly one member set, however deep
            name, member = rng.choice(members)
            return {member.serialization.get("name", name): _value(member, rng, depth + 1)}
        if depth > 6:
            return {}
        out: dict[str, Any] = {}
        for name, member in members:
            roll = rng.random()
            if roll < 0.3:
                continue
            key = member.serialization.get("name", name)
            out[key] = None if roll < 0.35 else _value(member, rng, depth + 1)
        if rng.random() < 0.3:
            out["memberNotInTheModel"] = {"a": 1}
        return out
    if isinstance(shape, ListShape):
        if depth > 6:
            return []
        return [None if rng.random() < 0.05 else _value(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if isinstance(shape, MapShape):
        if depth > 6:
            return {}
        return {f"k{i}": _value(shape.value, rng, depth + 1) for i in range(rng.randint(0, 3))}
    if kind == "timestamp":
        return rng.choice([1_700_000_000, 1_700_000_000.25, "2024-05-01T10:00:00Z"])
    if kind == "blob":
        return base64.b64encode(b"bytes").decode()
    if kind in ("integer", "long"):
        return rng.randint(0, 1000)
    if kind in ("float", "double"):
        return rng.choice([7, 7.5, 0])  # an integer where the model says double: rest-json makes it a float
    if kind == "boolean":
        return rng.random() < 0.5
    if shape.enum:
        return rng.choice(shape.enum)
    return rng.choice(["text", "", "ünïcode"])


def _typed(value: Any) -> Any:
    """The value with every scalar's type beside it: 7 and 7.0 are equal in Python, not to a caller."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


@cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _operations() -> list[tuple[str, str]]:
    """Every operation of the services that has an output to parse."""
    out = []
    for service in SERVICES:
        model = _model(service)
        out.extend((service, op) for op in model.operation_names if model.operation_model(op).output_shape)
    return out


@pytest.mark.parametrize(("service", "operation"), _operations())
def test_lean_parser_gives_botocores_result(service: str, operation: str) -> None:
    model = _model(service)
    shape = model.operation_model(operation).output_shape
    protocol = model.metadata["protocol"]
    botocores = ResponseParserFactory()
    botocores.set_parser_defaults(timestamp_parser=parse_timestamp)
    rng = random.Random(f"{service}:{operation}")
    for _ in range(8):
        body = json.dumps(_value(shape, rng, 0)).encode()
        response = {"status_code": 200, "headers": {"x-amzn-requestid": "r"}, "body": body}
        expected = botocores.create_parser(protocol).parse(dict(response), shape)
        assert _typed(parser_factory().create_parser(protocol).parse(dict(response), shape)) == _typed(expected)


def test_the_factory_makes_lean_parsers_for_the_json_protocols_only() -> None:
    factory = parser_factory()
    assert isinstance(factory.create_parser("json"), LeanJSONParser)
    assert isinstance(factory.create_parser("rest-json"), LeanRestJSONParser)
    assert not isinstance(factory.create_parser("query"), LeanJSONParser | LeanRestJSONParser)


def test_epoch_timestamps_are_the_same_instant_in_utc() -> None:
    parsed = parse_timestamp(1_700_000_000.5)
    assert parsed == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert parse_timestamp("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_a_recursive_shape_is_parsed_as_botocore_parses_it() -> None:
    # None of the four services has one today; a model that gains one must not hang or recurse forever.
    model = ServiceModel(
        {
            "metadata": {"protocol": "json", "apiVersion": "2020-01-01", "jsonVersion": "1.1"},
            "operations": {"Get": {"name": "Get", "http": {"method": "POST"}, "output": {"shape": "Node"}}},
            "shapes": {
                "Node": {
                    "type": "structure",
                    "members": {"at": {"shape": "When"}, "children": {"shape": "Nodes"}, "name": {"shape": "S"}},
                },
                "Nodes": {"type": "list", "member": {"shape": "Node"}},
                "When": {"type": "timestamp"},
                "S": {"type": "string"},
            },
        },
        service_name="recursive",
    )
    shape = model.operation_model("Get").output_shape
    tree = {"name": "root", "at": 1_700_000_000, "children": [{"at": 1, "children": [{"name": None, "x": 1}]}]}
    response = {"status_code": 200, "headers": {}, "body": json.dumps(tree).encode()}
    botocores = ResponseParserFactory()
    botocores.set_parser_defaults(timestamp_parser=parse_timestamp)
    expected = botocores.create_parser("json").parse(dict(response), shape)
    parsed = parser_factory().create_parser("json").parse(dict(response), shape)
    assert _typed(parsed) == _typed(expected)
    assert parsed["children"][0]["children"] == [{}]  # the null and the undeclared member dropped, as botocore does
