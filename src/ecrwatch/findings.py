"""Inspector2 findings and coverage for exactly the digests that run.

Findings are asked for by `ecrImageHash`, ten digests a request (the filter's limit), in the region of each
image's registry, with the report's severity and fix filters pushed down so Inspector returns only what will
be reported. Coverage is asked for every one of those digests too (`resourceId`, ten a request), in the same
pass: it tells "scanned and clean" from "never scanned", and findings alone cannot say whether Inspector still
watches an image (an image whose scan eligibility expired keeps its findings until Inspector closes them,
with no fix). Never page through every finding of the account: that is what this tool beats.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from ecrwatch.aws import AccountUnavailable, Aws, calling_in
from ecrwatch.errors import AwsCallError
from ecrwatch.models import (
    SEVERITIES,
    Coverage,
    Finding,
    FindingsResult,
    InspectorUnread,
    Package,
    ScannedImage,
    SourceError,
)
from ecrwatch.parsing import parse_timestamp
from ecrwatch.regions import partition_for

log = logging.getLogger(__name__)

FILTER_VALUES_LIMIT = 10  # values one StringFilter list may hold
LIST_FINDINGS_PAGE = 100
LIST_COVERAGE_PAGE = 200
T = TypeVar("T")
Where = tuple[str, str]  # (whose Inspector is asked: an account id, or "" before the caller is known; region)


@dataclass(frozen=True)
class FindingFilters:
    """Filters pushed down to Inspector: what the report would drop anyway is never fetched."""

    min_severity: str | None = None
    fixable_only: bool = False

    def criteria(self, digests: Sequence[str]) -> dict[str, Any]:
        criteria: dict[str, Any] = {
            "ecrImageHash": [{"comparison": "EQUALS", "value": d} for d in digests],
            "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}],
            "resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}],
        }
        if self.min_severity and self.min_severity != SEVERITIES[-1]:
            kept = SEVERITIES[: SEVERITIES.index(self.min_severity) + 1]
            criteria["severity"] = [{"comparison": "EQUALS", "value": s} for s in kept]
        if self.fixable_only:
            criteria["fixAvailable"] = [{"comparison": "EQUALS", "value": v} for v in ("YES", "PARTIAL")]
        return criteria


def resource_id(image: ScannedImage) -> str:
    """Inspector's id for an ECR image: the repository ARN followed by the digest."""
    partition = partition_for(image.region)
    return f"arn:{partition}:ecr:{image.region}:{image.account}:repository/{image.repository}/{image.digest}"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fetch_findings(
    aws: Aws, images: Iterable[ScannedImage], *, filters: FindingFilters | None = None, workers: int = 8
) -> FindingsResult:
    """ACTIVE findings and the coverage of every image, regions and batches concurrently."""
    with FindingsLookup(aws, filters=filters, workers=workers) as lookup:
        return lookup.finish(images)


class FindingsLookup:
    """Findings and coverage asked for while the digests are still being discovered.

    `ask` takes digests as soon as they are known (a cluster's workloads, before the rest are read): each
    region's digests go to Inspector ten a request, for findings and for coverage alike, as soon as ten are
    waiting. `finish` takes the digests Inspector scans for the whole run, asks for those not asked yet, and
    keeps the findings and coverage of exactly those. A digest asked for early that turns out not to be scanned
    (a multi-arch index: Inspector scans its platform images) costs a place in a request, never a request.
    """

    def __init__(
        self,
        aws: Aws,
        *,
        filters: FindingFilters | None = None,
        workers: int = 8,
        inspector_account: str | None = None,
    ) -> None:
        self._aws = aws
        self._filters = filters or FindingFilters()
        self._workers = max(1, workers)
        self._inspector_account = inspector_account
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="inspector")
        self._lock = threading.Lock()
        # Keyed by where Inspector is asked: (whose Inspector: an account, see `_inspector`; region).
        self._waiting: dict[Where, list[str]] = defaultdict(list)  # digests not asked for yet
        self._asked: set[tuple[str, str, str]] = set()
        self._jobs: list[tuple[Where, Future[list[Finding]]]] = []
        # Coverage is per image (repository and digest: the resource id), findings per digest.
        self._uncovered: dict[Where, list[ScannedImage]] = defaultdict(list)  # images not asked yet
        self._covered: set[tuple[str, ScannedImage]] = set()
        self._coverage_jobs: list[tuple[Where, Future[list[Coverage]]]] = []
        self._readers: dict[str, Aws] = {}
        # Across accounts: the registries whose images each Inspector is asked about, so that its failure
        # leaves exactly those unread; and a delegated administrator that could not be entered, with its images.
        self._registries: dict[Where, set[str]] = defaultdict(set)
        self._refused: AccountUnavailable | None = None
        self._unasked: set[tuple[str, str]] = set()  # (registry account, region)

    def __enter__(self) -> FindingsLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # On an exception (CredentialsError above all) do not start what is still queued.
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _inspector(self, image: ScannedImage) -> str | None:
        """Whose Inspector is asked about an image: the delegated administrator's (--inspector-account), else
        the registry account's own where it can be entered, else the caller's (a single-account run: always).
        Images asked of one Inspector share requests. An account is entered here, outside the lookup's lock.
        None: the delegated administrator could not be entered, and no other Inspector knows the members'
        images (the caller's would answer "no record", which reads as unscanned for no reason)."""
        if self._inspector_account is None:
            reader = self._aws.reader(image.account)
        else:
            try:
                reader = self._aws.account(self._inspector_account)
            except AccountUnavailable as exc:
                with self._lock:
                    self._refused = exc
                return None
        name = reader.acting_account or ""
        with self._lock:
            self._readers.setdefault(name, reader)
        return name

    def ask(self, images: Iterable[ScannedImage]) -> None:
        """Digests that run: asked for ten at a time, per Inspector and region, as they come."""
        placed = [(self._inspector(image), image) for image in images]
        with self._lock:
            for inspector, image in placed:
                self._queue(inspector, image)

    def _queue(self, inspector: str | None, image: ScannedImage) -> None:
        """Ask for the image's findings and coverage, ten a request, unless already asked (caller holds the lock)."""
        if inspector is None:
            self._unasked.add((image.account, image.region))
            return
        where = (inspector, image.region)
        self._registries[where].add(image.account)
        key = (inspector, image.region, image.digest)
        if key not in self._asked:
            self._asked.add(key)
            waiting = self._waiting[where]
            waiting.append(image.digest)
            if len(waiting) == FILTER_VALUES_LIMIT:
                self._submit(where, waiting)
                self._waiting[where] = []
        if (inspector, image) not in self._covered:
            self._covered.add((inspector, image))
            uncovered = self._uncovered[where]
            uncovered.append(image)
            if len(uncovered) == FILTER_VALUES_LIMIT:
                self._submit_coverage(where, uncovered)
                self._uncovered[where] = []

    def _submit(self, where: Where, digests: Sequence[str]) -> None:
        batch = tuple(digests)
        reader = self._readers[where[0]]
        self._jobs.append((where, self._pool.submit(_list_findings, reader, where[1], batch, self._filters)))

    def _submit_coverage(self, where: Where, images: Sequence[ScannedImage]) -> None:
        batch = tuple(images)
        reader = self._readers[where[0]]
        self._coverage_jobs.append((where, self._pool.submit(_list_coverage, reader, where[1], batch)))

    def finish(self, images: Iterable[ScannedImage]) -> FindingsResult:
        """The findings and coverage of exactly these images (asked for now where they were not yet)."""
        wanted = sorted(dict.fromkeys(images), key=lambda i: (i.region, i.digest, resource_id(i)))
        placed = [(self._inspector(image), image) for image in wanted]
        with self._lock:
            for inspector, image in placed:
                self._queue(inspector, image)
            for where, waiting in sorted(self._waiting.items()):
                for batch in chunks(waiting, FILTER_VALUES_LIMIT):
                    self._submit(where, batch)
            for where, uncovered in sorted(self._uncovered.items()):
                for some in chunks(uncovered, FILTER_VALUES_LIMIT):
                    self._submit_coverage(where, some)
            self._waiting.clear()
            self._uncovered.clear()
            jobs = list(self._jobs)
            coverage_jobs = list(self._coverage_jobs)

        kept = {(i.region, i.digest) for i in wanted}
        findings: dict[str, Finding] = {}
        errors: list[SourceError] = []
        for where, job in jobs:
            try:
                outcome = job.result()
            except AwsCallError as exc:
                self._add_error(errors, where, exc)
                continue
            for finding in outcome:
                if (finding.image.region, finding.image.digest) in kept:
                    findings.setdefault(finding.finding_arn, finding)

        wanted_images = set(wanted)
        coverage: dict[ScannedImage, Coverage] = {}
        for where, pending in coverage_jobs:
            try:
                records = pending.result()
            except AwsCallError as exc:
                self._add_error(errors, where, exc)
                continue
            coverage.update((c.image, c) for c in records if c.image in wanted_images)
        refused = self._refused
        if refused is not None:  # the delegated administrator could not be entered: an error of its own
            log.warning("%s", refused)
            errors.append(
                SourceError(f"account:{refused.account}", refused.message, refused.code, account=refused.account)
            )
        # An `inspector2:REGION` error tells the join not to call that region's images clean (across accounts:
        # the images that Inspector was asked about), whichever of findings and coverage failed.
        unread = self._unread(errors)
        return FindingsResult(tuple(findings.values()), tuple(coverage.values()), tuple(errors), unread)

    def _add_error(self, errors: list[SourceError], where: Where, exc: AwsCallError) -> None:
        account = self._readers[where[0]].account_in_errors
        error = SourceError(f"inspector2:{where[1]}", exc.message, exc.code, account=account)
        if not any((e.source, e.account) == (error.source, error.account) for e in errors):
            log.warning("%s", exc)
            errors.append(error)

    def _unread(self, errors: Sequence[SourceError]) -> tuple[InspectorUnread, ...]:
        """The registries (and regions) whose images an account's failing Inspector leaves unread, or that no
        Inspector was asked about (the delegated administrator could not be entered)."""
        unread: dict[tuple[str, str], InspectorUnread] = {}
        for error in errors:
            if error.account is None or not error.source.startswith("inspector2:"):
                continue  # single-account: the whole region is unread (the join knows); or not an Inspector
            region = error.source.split(":", 1)[1]
            for registry in sorted(self._registries[(error.account, region)]):
                detail = f"Inspector could not be read in {region} (asked in account {error.account}; see errors)"
                unread.setdefault((registry, region), InspectorUnread(registry, region, detail))
        refused = self._refused
        if refused is not None:
            account, why = refused.account, refused.code or "no role"
            detail = f"Inspector was not asked: account {account} could not be entered ({why})"
            for registry, region in sorted(self._unasked):
                unread.setdefault((registry, region), InspectorUnread(registry, region, detail))
        return tuple(unread.values())


def _list_findings(aws: Aws, region: str, digests: Sequence[str], filters: FindingFilters) -> list[Finding]:
    client = aws.inspector2(region)
    out: list[Finding] = []
    with calling_in(aws, "inspector2", "ListFindings", region):
        pages = client.get_paginator("list_findings").paginate(
            filterCriteria=filters.criteria(digests),  # type: ignore[arg-type]
            PaginationConfig={"PageSize": LIST_FINDINGS_PAGE},
        )
        for page in pages:
            out.extend(f for f in (parse_finding(raw) for raw in page.get("findings") or ()) if f is not None)
    return out


def _list_coverage(aws: Aws, region: str, images: Sequence[ScannedImage]) -> list[Coverage]:
    client = aws.inspector2(region)
    wanted = {resource_id(i): i for i in images}
    out: list[Coverage] = []
    with calling_in(aws, "inspector2", "ListCoverage", region):
        pages = client.get_paginator("list_coverage").paginate(
            filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": rid} for rid in wanted]},
            PaginationConfig={"PageSize": LIST_COVERAGE_PAGE},
        )
        for page in pages:
            for record in page.get("coveredResources", []):
                image = wanted.get(record.get("resourceId", ""))
                if image is None:
                    continue
                # scanStatus is optional in the model: where it is missing, say so (None), never guess.
                status: Any = record.get("scanStatus") or {}
                out.append(
                    Coverage(
                        image,
                        status.get("statusCode") or None,
                        status.get("reason") or None,
                        _timestamp(record.get("lastScannedAt")),
                    )
                )
    return out


def _timestamp(value: Any) -> str | None:
    """An ISO 8601 UTC time from botocore's datetime, or from the value JSON holds (ListFindings pages are read
    as decoded, parsing.AS_DECODED): epoch seconds, or a text botocore's timestamp parser reads; else None."""
    when: datetime
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            when = parse_timestamp(value)
        except (OverflowError, OSError, ValueError, TypeError):
            return None
    else:
        return None
    if when.tzinfo is None:  # a text without a zone: Inspector's times are UTC (see events.py)
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


# An ECR image's resource id: arn:PARTITION:ecr:REGION:ACCOUNT:repository/REPOSITORY/sha256:HEX
_IMAGE_RESOURCE_ID = re.compile(
    r"arn:[^:]+:ecr:(?P<region>[^:]+):(?P<account>\d{12}):repository/(?P<repository>.+)/(?P<digest>sha256:[0-9a-f]{64})"
)


@lru_cache(maxsize=4096)
def _scanned_image(account: str, region: str, repository: str, digest: str) -> ScannedImage:
    """One ScannedImage (and one copy of its strings) per image, not per finding: an image has dozens."""
    return ScannedImage(account, region, repository, digest)


def parse_finding(raw: Any) -> Finding | None:
    """A finding as Inspector2 returns it, tolerant of every optional field being absent or null (its page is
    read as JSON decoded it: parsing.AS_DECODED); None where the finding names no ECR image (nothing to match
    it with)."""
    resource = next((r for r in raw.get("resources") or () if r.get("type") == "AWS_ECR_CONTAINER_IMAGE"), None)
    details = ((resource or {}).get("details") or {}).get("awsEcrContainerImage") or {}
    # `region` and `details` are optional in the model; the resource id (required) names the same image,
    # so a finding is never dropped (and its image never called clean) for lack of them.
    from_id = _IMAGE_RESOURCE_ID.fullmatch(str((resource or {}).get("id") or ""))
    parts = from_id.groupdict() if from_id else {}
    digest = details.get("imageHash") or parts.get("digest")
    repository = details.get("repositoryName") or parts.get("repository")
    account = details.get("registry") or parts.get("account") or raw.get("awsAccountId")
    region = (resource or {}).get("region") or parts.get("region")
    if not (resource and digest and repository and account and region and raw.get("findingArn")):
        return None
    vulnerability = raw.get("packageVulnerabilityDetails") or {}
    packages = tuple(
        Package(
            name=str(p.get("name") or ""),
            version=p.get("version"),
            fixed_in=p.get("fixedInVersion") if p.get("fixedInVersion") not in (None, "NotAvailable") else None,
            package_manager=p.get("packageManager"),
        )
        for p in vulnerability.get("vulnerablePackages") or ()
    )
    return Finding(
        finding_arn=raw["findingArn"],
        vulnerability_id=vulnerability.get("vulnerabilityId") or raw.get("title") or raw["findingArn"],
        severity=raw.get("severity") or "UNTRIAGED",
        status=raw.get("status") or "ACTIVE",
        image=_scanned_image(account, region, repository, digest),
        title=raw.get("title"),
        inspector_score=_float(raw.get("inspectorScore")),
        epss_score=_float((raw.get("epss") or {}).get("score")),
        fix_available=raw.get("fixAvailable"),
        exploit_available=raw.get("exploitAvailable"),
        packages=packages,
        first_observed_at=_timestamp(raw.get("firstObservedAt")),
        last_observed_at=_timestamp(raw.get("lastObservedAt")),
        image_tags=tuple(details.get("imageTags") or ()),
        architecture=details.get("architecture"),
        last_known_exploit_at=_timestamp((raw.get("exploitabilityDetails") or {}).get("lastKnownExploitAt")),
    )
