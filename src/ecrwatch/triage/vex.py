"""OpenVEX documents (`--vex FILE`, repeatable): a supplier's or a team's statement that an image is not
affected by a vulnerability, or has it fixed (https://github.com/openvex/spec, OPENVEX-SPEC.md).

A statement applies to a running image when one of its products names it: a `pkg:oci/NAME@sha256%3A...` purl
(in the product's `@id` or `identifiers.purl`) whose digest is the scanned digest or the one that runs (an
index), or whose `repository_url` qualifier names the repository (then any digest of it); or a product whose
`hashes` give the digest's sha-256. With `subcomponents`, the statement is about the vulnerability in those
packages only. Where several statements speak of one vulnerability in one image, the latest (by its timestamp,
else its document's) is the one that holds, as the spec's inheritance and updating rules make it: a later
`affected` undoes an earlier `not_affected`. `not_affected` and `fixed` set the exposure aside;
`affected` and `under_investigation` set nothing aside.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ecrwatch.errors import UsageError
from ecrwatch.images import ecr_registry_host
from ecrwatch.models import Finding, Workload

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
SUPPRESSING = frozenset({"not_affected", "fixed"})
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
_CONTEXT = "https://openvex.dev/ns"
_PURL = re.compile(
    r"^pkg:(?P<type>[a-zA-Z][a-zA-Z0-9.+-]*)/(?P<path>[^@?#]+)(?:@(?P<version>[^?#]+))?(?:\?(?P<q>[^#]*))?"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HINT = "an OpenVEX document (https://openvex.dev/ns/v0.2.0): see the README's Triage section"


class VexError(UsageError):
    """A VEX document that cannot be used (exit 2, before any AWS call)."""


@dataclass(frozen=True)
class ImageProduct:
    """What a product says about an OCI image: its digest and/or its repository (HOST/PATH), its name."""

    name: str | None
    digest: str | None
    repository_url: str | None

    def names(self, finding: Finding, workload: Workload | None) -> bool:
        image = finding.image
        if self.repository_url is not None:
            host, _, path = self.repository_url.rstrip("/").partition("/")
            if path != image.repository:
                return False
            if ".dkr.ecr." in host and host != ecr_registry_host(image.account, image.region):
                return False  # the same repository name in another registry is another image
        elif self.name is not None and self.name != image.repository.rsplit("/", 1)[-1]:
            return False
        if self.digest is None:
            return self.repository_url is not None  # a bare name is too loose to set anything aside
        running = workload.running_digest if workload is not None else None
        return self.digest in (image.digest, running)


@dataclass(frozen=True)
class VexStatement:
    source: str  # FILE#statements/N
    vulnerabilities: frozenset[str]  # the name and its aliases, upper case
    status: str
    timestamp: datetime
    products: tuple[ImageProduct, ...]
    subcomponents: frozenset[str]  # package names; empty: the whole product
    justification: str | None
    reason: str

    def applies_to(self, finding: Finding, workload: Workload | None) -> bool:
        if finding.vulnerability_id.upper() not in self.vulnerabilities:
            return False
        if self.subcomponents and not any(p.name in self.subcomponents for p in finding.packages):
            return False
        return any(product.names(finding, workload) for product in self.products)


class VexStatements:
    """Every statement of the documents given, by vulnerability: the latest applicable one holds."""

    def __init__(self, statements: Iterable[VexStatement]) -> None:
        self._by_vulnerability: dict[str, list[VexStatement]] = {}
        for statement in statements:
            for name in statement.vulnerabilities:
                self._by_vulnerability.setdefault(name, []).append(statement)

    def __bool__(self) -> bool:
        return bool(self._by_vulnerability)

    def speaks_of(self, finding: Finding) -> bool:
        return finding.vulnerability_id.upper() in self._by_vulnerability

    def holding(self, finding: Finding, workload: Workload | None) -> VexStatement | None:
        """The statement that holds for this finding in this workload, where one suppresses it."""
        candidates = [
            s
            for s in self._by_vulnerability.get(finding.vulnerability_id.upper(), ())
            if s.applies_to(finding, workload)
        ]
        if not candidates:
            return None
        latest = max(candidates, key=lambda s: s.timestamp)  # max keeps the first of equals: document order
        return latest if latest.status in SUPPRESSING else None


def load_vex(paths: Iterable[str]) -> VexStatements:
    statements: list[VexStatement] = []
    for path in paths:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise VexError(f"VEX document {path} could not be read: {exc}", _HINT) from None
        statements.extend(parse_vex_text(text, path))
    return VexStatements(statements)


def parse_vex_text(text: str, name: str) -> list[VexStatement]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise VexError(f"VEX document {name} is not JSON: {exc}", _HINT) from None
    if not isinstance(document, dict):
        raise VexError(f"VEX document {name} is not a JSON object", _HINT)
    context = document.get("@context")
    if not isinstance(context, str) or not context.startswith(_CONTEXT):
        raise VexError(f"VEX document {name}: @context {context!r} is not OpenVEX's ({_CONTEXT}/v...)", _HINT)
    for required in ("@id", "author"):
        if not isinstance(document.get(required), str) or not document[required]:
            raise VexError(f"VEX document {name} has no {required} (the spec requires it)", _HINT)
    issued = _timestamp(document.get("timestamp"), f"VEX document {name}: timestamp")
    statements = document.get("statements")
    if not isinstance(statements, list):
        raise VexError(f"VEX document {name} has no statements list", _HINT)
    return [_statement(raw, f"{name}#statements/{i}", issued) for i, raw in enumerate(statements)]


def _statement(raw: Any, source: str, issued: datetime) -> VexStatement:
    if not isinstance(raw, dict):
        raise VexError(f"VEX {source}: a statement is a JSON object", _HINT)
    status = raw.get("status")
    if status not in STATUSES:
        raise VexError(f"VEX {source}: status {status!r} is not one of {', '.join(STATUSES)}", _HINT)
    justification = raw.get("justification")
    if justification is not None and justification not in JUSTIFICATIONS:
        raise VexError(
            f"VEX {source}: justification {justification!r} is not one of {', '.join(JUSTIFICATIONS)}", _HINT
        )
    impact = raw.get("impact_statement")
    if status == "not_affected" and not justification and not impact:
        raise VexError(f"VEX {source}: a not_affected statement needs a justification or an impact_statement", _HINT)
    products = raw.get("products")
    if not isinstance(products, list) or not products:
        raise VexError(f"VEX {source}: the statement names no products", _HINT)
    subcomponents = set()
    images = []
    for product in products:
        if not isinstance(product, dict):
            raise VexError(f"VEX {source}: a product is a JSON object (@id, identifiers, hashes)", _HINT)
        image = _image_product(product)
        if image is not None:
            images.append(image)
        for component in product.get("subcomponents") or ():
            package = _package_name(component) if isinstance(component, dict) else None
            if package is None:
                raise VexError(f"VEX {source}: a subcomponent names no package (an @id or identifiers.purl)", _HINT)
            subcomponents.add(package)
    reason = (
        impact or raw.get("status_notes") or (f"VEX {status}: {justification}" if justification else f"VEX {status}")
    )
    return VexStatement(
        source=source,
        vulnerabilities=_vulnerability_names(raw.get("vulnerability"), source),
        status=status,
        timestamp=_timestamp(raw["timestamp"], f"VEX {source}: timestamp") if "timestamp" in raw else issued,
        products=tuple(images),
        subcomponents=frozenset(subcomponents),
        justification=justification,
        reason=str(reason),
    )


def _vulnerability_names(raw: Any, source: str) -> frozenset[str]:
    if isinstance(raw, str) and raw:  # OpenVEX before v0.2.0 gave the name alone
        return frozenset({raw.upper()})
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise VexError(f"VEX {source}: the statement's vulnerability has no name", _HINT)
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise VexError(f"VEX {source}: vulnerability aliases must be a list of names", _HINT)
    return frozenset(name.upper() for name in [raw["name"], *aliases])


def _purls(component: Mapping[str, Any]) -> list[str]:
    identifiers = component.get("identifiers") if isinstance(component.get("identifiers"), dict) else {}
    return [p for p in (component.get("@id"), (identifiers or {}).get("purl")) if isinstance(p, str)]


def _image_product(product: Mapping[str, Any]) -> ImageProduct | None:
    """The OCI image a product names, if it names one ecrwatch can match (other products are left alone)."""
    hashes = product.get("hashes") if isinstance(product.get("hashes"), dict) else {}
    sha256 = (hashes or {}).get("sha-256")
    hashed = f"sha256:{sha256}" if isinstance(sha256, str) and _DIGEST.match(f"sha256:{sha256}") else None
    for purl in _purls(product):
        match = _PURL.match(purl)
        if match is None or match["type"].lower() != "oci":
            continue
        qualifiers = dict(part.split("=", 1) for part in (match["q"] or "").split("&") if "=" in part)
        version = unquote(match["version"]) if match["version"] else None
        repository_url = unquote(qualifiers["repository_url"]) if "repository_url" in qualifiers else None
        digest = version if version and _DIGEST.match(version) else hashed
        return ImageProduct(unquote(match["path"]).rsplit("/", 1)[-1], digest, repository_url)
    return ImageProduct(None, hashed, None) if hashed else None


def _package_name(component: Mapping[str, Any]) -> str | None:
    for purl in _purls(component):
        match = _PURL.match(purl)
        if match is not None:
            return unquote(match["path"]).rsplit("/", 1)[-1]
    return None


def _timestamp(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise VexError(f"{what} is missing (the spec requires when the statement was made)", _HINT)
    text = value.strip()
    # RFC 3339 with up to nanoseconds (the spec's examples): Python keeps microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise VexError(f"{what} {value!r} is not an RFC 3339 time", _HINT) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
