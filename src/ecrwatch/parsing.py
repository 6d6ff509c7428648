"""Leaner response parsing for botocore's JSON protocols: the same result, in a fraction of the time.

botocore turns a JSON response into its result by visiting every member the model declares for every
structure in it, present or not, with a method lookup per value. A DescribeTasks page of 100 tasks or a
ListFindings page of 25 findings declares hundreds of members per item, and that visit was most of
ecrwatch's CPU time at organisation scale. Here a structure keeps the members the model declares and the
response holds (dropping nulls, as botocore does) in one pass over what the response holds, and only the
members whose values need converting (timestamps, blobs, numbers and booleans in rest-json, nested
structures) go through botocore's own handlers. Each shape is compiled once into a function that calls its
members' functions directly: botocore's dispatch by `getattr` per value was half of what was left.

Anything this cannot prove to give botocore's result (documents, tagged unions, members renamed or bound to
headers) is left to botocore. Dictionary order follows the response rather than the model.

Timestamps in epoch seconds (the JSON protocols' form) become UTC datetimes without dateutil's local time
zone, which took a third of the time of parsing a DescribeTasks page: the same instant.

Two answers are not botocore's result but JSON as decoded: DescribeTasks and ListFindings pages (`AS_DECODED`),
whose readers take JSON's own values; the tests hold those readers to what botocore's result would give them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.utils
import orjson
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.parsers import JSONParser, ResponseParserFactory, RestJSONParser

# What each protocol's botocore parser converts, beyond structures: a value of any other type is the JSON value.
_CONVERTED = {
    "json": frozenset({"timestamp", "blob"}),
    "rest-json": frozenset({"timestamp", "blob", "integer", "long", "float", "double", "boolean"}),
}

# A compiled shape: (parser, JSON value) -> botocore's result for that value.
_Parse = Callable[[Any, Any], Any]

_lock = threading.RLock()  # compiling a shape compiles its members
# A shape's identity: botocore makes a new Shape object each time a member is reached, so a recursive shape
# would never meet itself by object identity. Its model's shapes, its name and the traits its member reference
# adds. The model's shapes are the loaded JSON, which the session's loader hands every client of a service
# alike, while each client has a resolver of its own: keyed by the resolver, each of an organisation's 100 ECS
# clients compiled DescribeTasks' shapes again (a tenth of `check --org`'s CPU).
_Key = tuple[type, int, str, str]
# key -> (the model's shapes, kept alive so that their id is not reused; the compiled parse, or None where the
# JSON value is botocore's result unchanged).
_compiled: dict[_Key, tuple[Any, _Parse | None]] = {}
_building: dict[_Key, _Parse] = {}  # shapes being compiled, under the lock (see `compiled`)


def _needs_parsing(shape: Shape, converted: frozenset[str]) -> bool:
    if isinstance(shape, StructureShape):
        return True  # its members are filtered, whatever they hold
    if isinstance(shape, ListShape):
        return _needs_parsing(shape.member, converted)
    if isinstance(shape, MapShape):
        return _needs_parsing(shape.key, converted) or _needs_parsing(shape.value, converted)
    if shape.type_name == "string":
        return bool(shape.serialization.get("jsonvalue"))  # a JSON value in a header: botocore decodes it
    return shape.type_name in converted


def compiled(parser_class: type[_Lean], shape: Shape) -> _Parse | None:
    """`shape`'s parse, made once per parser class and shape: nested shapes call each other directly,
    without botocore's per-value handler lookup. None: the JSON value is botocore's result unchanged."""
    resolver = getattr(shape, "_shape_resolver", None)  # the model the shape belongs to
    shapes = getattr(resolver, "_shape_map", resolver)  # its shapes, as loaded
    key = (parser_class, id(shapes), shape.name, repr(sorted(shape.serialization.items())))
    found = _compiled.get(key)
    if found is not None:
        return found[1]
    with _lock:
        found = _compiled.get(key)
        if found is not None:
            return found[1]
        building = _building.get(key)
        if building is not None:
            return building  # a recursive shape meeting itself in this thread, which holds the lock
        # The stand-in looks up the finished parse when called (by then it is in `_compiled`). It lives in
        # `_building`, read only under the lock, so no other thread can call it before the parse is made.
        _building[key] = lambda parser, value: _compiled[key][1](parser, value)  # type: ignore[misc]
        try:
            made = _compile(parser_class, shape)
        finally:
            del _building[key]
        _compiled[key] = (shapes, made)
    return made


def _compile(parser_class: type[_Lean], shape: Shape) -> _Parse | None:
    if not _needs_parsing(shape, _CONVERTED[parser_class.PROTOCOL]):
        return None
    if isinstance(shape, StructureShape):
        return _compile_structure(parser_class, shape)
    if isinstance(shape, ListShape):
        item = compiled(parser_class, shape.member)
        assert item is not None  # the list needs parsing because its member does
        return lambda parser, value: [item(parser, each) for each in value]
    if isinstance(shape, MapShape):
        key, entry = compiled(parser_class, shape.key), compiled(parser_class, shape.value)
        return lambda parser, value: {
            (key(parser, k) if key else k): (entry(parser, v) if entry else v) for k, v in value.items()
        }
    handler = getattr(parser_class, f"_handle_{shape.type_name}", None) or parser_class._default_handle  # type: ignore[attr-defined]
    return lambda parser, value: handler(parser, shape, value)


# Answers returned as JSON decoded them rather than as botocore's result: ECS's DescribeTasks page (100 tasks,
# ~1,500 nested objects: 4.5 ms parsed here, 1.5 ms decoded) and Inspector2's ListFindings page (25 findings:
# 0.75 ms, 0.16 ms decoded), most of what parsing costs a large run (L: 200 and 834 of them). Each has one
# reader, written for JSON's own values (inventory/ecs.py `task_workloads`, findings.py `parse_finding`):
# timestamps in epoch seconds, null where botocore drops a member, members the model does not declare. Known by
# the output shape's name and members, which no other model ecrwatch loads has.
AS_DECODED = frozenset(
    {
        ("DescribeTasksResponse", frozenset({"tasks", "failures"})),
        ("ListFindingsResponse", frozenset({"findings", "nextToken"})),
    }
)


def _compile_structure(parser_class: type[_Lean], shape: StructureShape) -> _Parse:
    botocores = super(_Lean, parser_class)._handle_structure  # type: ignore[misc]
    if (shape.name, frozenset(shape.members)) in AS_DECODED:
        return lambda parser, value: value if isinstance(value, dict) else botocores(parser, shape, value)
    if (
        shape.is_document_type
        or shape.is_tagged_union
        or any(
            member.serialization.get("name", name) != name or member.serialization.get("location")
            for name, member in shape.members.items()
        )
    ):
        return lambda parser, value: botocores(parser, shape, value)
    names = frozenset(shape.members)
    members = tuple((name, compiled(parser_class, member)) for name, member in shape.members.items())
    convert = {name: parse for name, parse in members if parse is not None}
    converted = frozenset(convert)

    def parse_structure(parser: Any, value: Any) -> Any:
        if not isinstance(value, dict):
            return botocores(parser, shape, value)  # null, or what botocore makes of a value of another type
        # The members the model declares and the response holds, nulls dropped, as botocore keeps them. Most
        # objects hold nothing else: then the decoded dictionary is the result, converted in place (it is
        # this parse's own), which spares a copy of every object of a page.
        if names.issuperset(value) and None not in value.values():
            parsed = value
        else:
            parsed = {key: item for key, item in value.items() if item is not None and key in names}
        # Only the members present (none is null by now): a Task declares dozens that need converting.
        for name in converted.intersection(parsed):
            parsed[name] = convert[name](parser, parsed[name])
        return parsed

    return parse_structure


class _Lean:
    """Mixed into botocore's JSON parsers: a faster `_handle_structure` with the same result."""

    PROTOCOL: str

    def _parse_body_as_json(self, body_contents: bytes) -> Any:
        """botocore's, by orjson: the same value, in less time (DescribeTasks and ListFindings pages)."""
        if not body_contents:
            return {}
        try:
            return orjson.loads(body_contents)
        except orjson.JSONDecodeError:  # as botocore does: the text itself becomes the message
            return {"message": body_contents.decode(self.DEFAULT_ENCODING, errors="replace")}  # type: ignore[attr-defined]

    def _handle_structure(self, shape: StructureShape, value: Any) -> Any:
        parse = compiled(type(self), shape)
        assert parse is not None  # a structure always needs parsing
        return parse(self, value)


class LeanJSONParser(_Lean, JSONParser):
    PROTOCOL = "json"


class LeanRestJSONParser(_Lean, RestJSONParser):
    PROTOCOL = "rest-json"


_LEAN = {"json": LeanJSONParser, "rest-json": LeanRestJSONParser}


class LeanParserFactory(ResponseParserFactory):
    """botocore's parser factory, with the lean parsers for the JSON protocols (the others as botocore has them)."""

    def __init__(self) -> None:
        super().__init__()
        self._lean_defaults: dict[str, Any] = {}

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._lean_defaults.update(kwargs)

    def create_parser(self, protocol_name: str) -> Any:
        lean = _LEAN.get(protocol_name)
        if lean is None:
            return super().create_parser(protocol_name)
        return lean(**self._lean_defaults)


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with epoch seconds read directly as UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return botocore.utils.parse_timestamp(value)


def parser_factory() -> ResponseParserFactory:
    """The factory to register as a botocore session's `response_parser_factory` component."""
    factory = LeanParserFactory()
    factory.set_parser_defaults(timestamp_parser=parse_timestamp)
    return factory
