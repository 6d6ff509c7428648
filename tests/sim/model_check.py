"""Check a simulated service's raw JSON answers against botocore's own output shapes.

botocore's parser silently drops members it does not know, so a parsed response cannot show that a fake
invents fields or gets a type wrong; this looks at the bytes on the wire instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.model import Shape, StructureShape


def record_raw_bodies(client: Any) -> list[tuple[str, Any]]:
    """Every response body `client` receives from now on, as (operation name, decoded JSON)."""
    bodies: list[tuple[str, Any]] = []

    def keep(response_dict: dict[str, Any], operation_model: Any = None, **_: Any) -> None:
        body = response_dict.get("body") or b"{}"
        bodies.append((operation_model.name, json.loads(body)))

    client.meta.events.register("before-parse", keep)
    return bodies


def violations(client: Any, operation: str, payload: Any) -> list[str]:
    """Where `payload` departs from the output shape of `operation` (empty when it conforms)."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    return list(_check(shape, payload, "$"))


def _check(shape: Shape, value: Any, path: str) -> Iterator[str]:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            yield f"{path}: {type(value).__name__} where {shape.name} (structure) belongs"
            return
        body_members = {k: m for k, m in shape.members.items() if "location" not in m.serialization}
        for key, member_value in value.items():
            if key not in body_members:
                yield f"{path}.{key}: not a member of {shape.name}"
            else:
                yield from _check(body_members[key], member_value, f"{path}.{key}")
        for required in shape.required_members:
            if required in body_members and required not in value:
                yield f"{path}.{required}: required by {shape.name}, missing"
    elif kind == "list":
        if not isinstance(value, list):
            yield f"{path}: {type(value).__name__} where a list belongs"
            return
        for index, item in enumerate(value):
            yield from _check(shape.member, item, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            yield f"{path}: {type(value).__name__} where a map belongs"
            return
        for key, item in value.items():
            yield from _check(shape.key, key, f"{path}<key>")  # type: ignore[attr-defined]
            yield from _check(shape.value, item, f"{path}.{key}")  # type: ignore[attr-defined]
    elif kind == "string":
        if not isinstance(value, str):
            yield f"{path}: {type(value).__name__} where a string belongs"
        elif getattr(shape, "enum", None) and value not in shape.enum:  # type: ignore[attr-defined]
            yield f"{path}: {value!r} is not one of {shape.name}'s values"
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            yield f"{path}: {type(value).__name__} where an integer belongs"
    elif kind == "boolean":
        if not isinstance(value, bool):
            yield f"{path}: {type(value).__name__} where a boolean belongs"
    elif kind in ("timestamp", "double", "float"):
        # JSON protocols carry timestamps as epoch seconds by default.
        if not isinstance(value, int | float) or isinstance(value, bool):
            yield f"{path}: {type(value).__name__} where a number ({kind}) belongs"
    elif kind == "blob" and not isinstance(value, str):
        yield f"{path}: {type(value).__name__} where base64 text belongs"
