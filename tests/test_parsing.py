"""The lean JSON response parser gives botocore's own result, for every operation of the services ecrwatch
calls, on responses shaped as AWS sends them and on ones that are not (nulls, unknown members, integers
where the model says double, timestamps as epoch numbers and as text)."""

from __future__ import annotations

import base64
import json
import random
import threading
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from botocore.parsers import ResponseParserFactory

from ecrwatch import parsing
from ecrwatch.findings import parse_finding
from ecrwatch.inventory.ecs import task_workloads
from ecrwatch.parsing import LeanJSONParser, LeanRestJSONParser, parse_timestamp, parser_factory

SERVICES = ("ecs", "ecr", "eks", "inspector2")
ACCOUNT = "123456789012"
DIGEST = "sha256:" + "ab" * 32


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


# Read as JSON decoded them (parsing.AS_DECODED): their readers are held to botocore's result below instead.
DECODED = {("ecs", "DescribeTasks"), ("inspector2", "ListFindings")}


def _operations() -> list[tuple[str, str]]:
    """Every operation of the services that has an output to parse, but those read as decoded."""
    out = []
    for service in SERVICES:
        model = _model(service)
        out.extend(
            (service, op)
            for op in model.operation_names
            if model.operation_model(op).output_shape and (service, op) not in DECODED
        )
    return out


def _both_parses(service: str, operation: str, body: bytes) -> tuple[Any, Any]:
    """botocore's result for the body, and what ecrwatch's parser hands its reader."""
    model = _model(service)
    shape = model.operation_model(operation).output_shape
    protocol = model.metadata["protocol"]
    botocores = ResponseParserFactory()
    botocores.set_parser_defaults(timestamp_parser=parse_timestamp)
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "r"}, "body": body}
    return (
        botocores.create_parser(protocol).parse(dict(response), shape),
        parser_factory().create_parser(protocol).parse(dict(response), shape),
    )


def _random_answer(service: str, operation: str, seed: int) -> tuple[dict[str, Any], random.Random]:
    """A random answer shaped by the operation's model, and the generator that made it (to vary it further)."""
    rng = random.Random(f"{service}:{operation}:{seed}")
    answer: dict[str, Any] = _value(_model(service).operation_model(operation).output_shape, rng, 0)
    return answer, rng


@pytest.mark.parametrize("seed", range(12))
def test_tasks_read_as_decoded_make_the_workloads_botocores_result_makes(seed: int) -> None:
    # Random pages shaped by the model (nulls, unknown members, timestamps as numbers and text), some of their
    # containers given real image references: the workloads and errors must be the same either way.
    page, rng = _random_answer("ecs", "DescribeTasks", seed)
    for task in page.get("tasks") or ():
        if isinstance(task, dict):
            task["taskArn"] = rng.choice([None, f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{seed:032x}"])
            for container in task.get("containers") or ():
                if isinstance(container, dict) and rng.random() < 0.7:
                    container["image"] = rng.choice(
                        ["nginx:1.27", f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/a@{DIGEST}"]
                    )
                    container["imageDigest"] = rng.choice([None, DIGEST])
    expected, decoded = _both_parses("ecs", "DescribeTasks", json.dumps(page).encode())
    assert len(decoded.get("tasks") or ()) == len(expected.get("tasks") or ())
    for theirs, ours in zip(expected.get("tasks") or (), decoded.get("tasks") or (), strict=True):
        if ours is None:  # a null in the list: botocore keeps it too, and the reader skips neither
            assert theirs is None
            continue
        assert task_workloads(ours, "us-east-1", "prod", ("team",)) == task_workloads(
            theirs, "us-east-1", "prod", ("team",)
        )


@pytest.mark.parametrize("seed", range(12))
def test_findings_read_as_decoded_are_the_findings_botocores_result_gives(seed: int) -> None:
    page, rng = _random_answer("inspector2", "ListFindings", seed)
    for finding in page.get("findings") or ():
        if isinstance(finding, dict) and rng.random() < 0.7:  # a finding on an ECR image, as Inspector gives
            finding["findingArn"] = f"arn:aws:inspector2:us-east-1:{ACCOUNT}:finding/{seed:032x}"
            finding["resources"] = [
                {"type": "AWS_ECR_CONTAINER_IMAGE", "id": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/a/{DIGEST}"}
            ]
    expected, decoded = _both_parses("inspector2", "ListFindings", json.dumps(page).encode())
    theirs = [parse_finding(f) for f in expected.get("findings") or () if f is not None]
    ours = [parse_finding(f) for f in decoded.get("findings") or () if f is not None]
    assert ours == theirs
    assert decoded.get("nextToken") == expected.get("nextToken")


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


def _recursive_model() -> ServiceModel:
    """A model of its own (a new one each call: compiled shapes are kept per model) with a recursive shape."""
    return ServiceModel(
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


TREE = {"name": "root", "at": 1_700_000_000, "children": [{"at": 1, "children": [{"name": None, "x": 1}]}]}
TREE_RESPONSE = {"status_code": 200, "headers": {}, "body": json.dumps(TREE).encode()}


def _botocores(shape: Shape) -> Any:
    factory = ResponseParserFactory()
    factory.set_parser_defaults(timestamp_parser=parse_timestamp)
    return factory.create_parser("json").parse(dict(TREE_RESPONSE), shape)


def test_a_recursive_shape_is_parsed_as_botocore_parses_it() -> None:
    # None of the four services has one today; a model that gains one must not hang or recurse forever.
    shape = _recursive_model().operation_model("Get").output_shape
    parsed = parser_factory().create_parser("json").parse(dict(TREE_RESPONSE), shape)
    assert _typed(parsed) == _typed(_botocores(shape))
    assert parsed["children"][0]["children"] == [{}]  # the null and the undeclared member dropped, as botocore does


def test_a_shape_being_compiled_is_not_used_by_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    shape = _recursive_model().operation_model("Get").output_shape
    compiling, go_on = threading.Event(), threading.Event()
    real = parsing._compile

    def slow(parser_class: Any, each: Shape) -> Any:
        if each.name == "Node" and not compiling.is_set():
            compiling.set()  # the first thread is inside Node's compilation...
            go_on.wait(5)  # ...while the second asks for Node's parse
        return real(parser_class, each)

    monkeypatch.setattr(parsing, "_compile", slow)
    results: dict[str, Any] = {}

    def parse(name: str) -> None:
        results[name] = parser_factory().create_parser("json").parse(dict(TREE_RESPONSE), shape)

    first = threading.Thread(target=parse, args=("first",))
    first.start()
    assert compiling.wait(5)
    second = threading.Thread(target=parse, args=("second",))
    second.start()
    second.join(0.3)  # it waits for the first thread's compilation rather than use a half-made parse
    go_on.set()
    first.join(5)
    second.join(5)
    expected = _typed(_botocores(shape))
    assert _typed(results["first"]) == expected and _typed(results["second"]) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"__type":"com.amazonaws.ecs#ClusterNotFoundException","message":"Cluster not found."}',
        b"<html>502 Bad Gateway</html>",  # a proxy's page: its text becomes the message, as botocore does
        b"",
    ],
)
def test_an_error_answer_is_read_as_botocore_reads_it(body: bytes) -> None:
    shape = _model("ecs").operation_model("DescribeTasks").output_shape
    response = {"status_code": 400, "headers": {"x-amzn-requestid": "r"}, "body": body}
    botocores = ResponseParserFactory().create_parser("json").parse(dict(response), shape)
    assert parser_factory().create_parser("json").parse(dict(response), shape) == botocores


def test_the_clients_of_one_session_share_each_compiled_shape() -> None:
    # An organisation's run makes an ECS client per account and region from one loader: a shape compiled for
    # one is not compiled again for the next (it was, once per client, a tenth of `check --org`'s CPU).
    session = botocore.session.get_session()
    session.register_component("response_parser_factory", parser_factory())
    regions = ("us-east-1", "eu-west-1", "ap-south-1")
    models = [session.create_client("ecs", region_name=r, aws_access_key_id="a", aws_secret_access_key="b")
              .meta.service_model for r in regions]  # fmt: skip
    shapes = [model.operation_model("DescribeTasks").output_shape for model in models]
    assert shapes[0] is not shapes[1]  # botocore's own objects differ from client to client
    first = parsing.compiled(LeanJSONParser, shapes[0])
    before = len(parsing._compiled)
    assert all(parsing.compiled(LeanJSONParser, shape) is first for shape in shapes[1:])
    assert len(parsing._compiled) == before
    # A model another loader read is compiled for itself: nothing says its shapes are the same.
    other = botocore.session.get_session().get_service_model("ecs").operation_model("DescribeTasks").output_shape
    assert parsing.compiled(LeanJSONParser, other) is not first
