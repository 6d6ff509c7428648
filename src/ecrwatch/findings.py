"""Inspector2 findings and coverage for exactly the digests that run.

Findings are asked for by `ecrImageHash`, ten digests a request (the filter's limit), in the region of each
image's registry, with the report's severity and fix filters pushed down so Inspector returns only what will
be reported. Coverage is asked only for the digests that returned no finding, to tell "scanned and clean"
from "never scanned". Never page through every finding of the account: that is what this tool beats.
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
from typing import Any, TypeVar

from ecrwatch.aws import Aws, calling
from ecrwatch.errors import AwsCallError
from ecrwatch.models import SEVERITIES, Coverage, Finding, FindingsResult, Package, ScannedImage, SourceError
from ecrwatch.regions import partition_for

log = logging.getLogger(__name__)

FILTER_VALUES_LIMIT = 10  # values one StringFilter list may hold
LIST_FINDINGS_PAGE = 100
LIST_COVERAGE_PAGE = 200
T = TypeVar("T")


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
    """ACTIVE findings of every image, then coverage of those without any, regions and batches concurrently."""
    with FindingsLookup(aws, filters=filters, workers=workers) as lookup:
        return lookup.finish(images)


class FindingsLookup:
    """Findings asked for while the digests are still being discovered.

    `ask` takes digests as soon as they are known (a cluster's workloads, before the rest are read): each
    region's digests go to Inspector ten a request, as soon as ten are waiting. `finish` takes the digests
    Inspector scans for the whole run, asks for those not asked yet, keeps the findings of exactly those, and
    asks for coverage where they have none. A digest asked for early that turns out not to be scanned (a
    multi-arch index: Inspector scans its platform images) costs a place in a request, never a request.
    """

    def __init__(self, aws: Aws, *, filters: FindingFilters | None = None, workers: int = 8) -> None:
        self._aws = aws
        self._filters = filters or FindingFilters()
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="inspector")
        self._lock = threading.Lock()
        self._waiting: dict[str, list[str]] = defaultdict(list)  # region -> digests not asked for yet
        self._asked: set[tuple[str, str]] = set()
        self._jobs: list[tuple[str, Future[list[Finding]]]] = []

    def __enter__(self) -> FindingsLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # On an exception (CredentialsError above all) do not start what is still queued.
        self._pool.shutdown(wait=True, cancel_futures=True)

    def ask(self, images: Iterable[ScannedImage]) -> None:
        """Digests that run: asked for ten at a time, per region, as they come."""
        with self._lock:
            for image in images:
                key = (image.region, image.digest)
                if key not in self._asked:
                    self._asked.add(key)
                    waiting = self._waiting[image.region]
                    waiting.append(image.digest)
                    if len(waiting) == FILTER_VALUES_LIMIT:
                        self._submit(image.region, waiting)
                        self._waiting[image.region] = []

    def _submit(self, region: str, digests: Sequence[str]) -> None:
        batch = tuple(digests)
        self._jobs.append((region, self._pool.submit(_list_findings, self._aws, region, batch, self._filters)))

    def finish(self, images: Iterable[ScannedImage]) -> FindingsResult:
        """The findings of exactly these images (asked for now where they were not yet), and the coverage of
        those that have none."""
        wanted = list(dict.fromkeys(images))
        by_region: dict[str, list[ScannedImage]] = defaultdict(list)
        for image in wanted:
            by_region[image.region].append(image)
        with self._lock:
            for region, region_images in sorted(by_region.items()):
                digests = sorted({i.digest for i in region_images if (region, i.digest) not in self._asked})
                self._asked.update((region, d) for d in digests)
                self._waiting[region].extend(digests)
            for region, waiting in sorted(self._waiting.items()):
                for batch in chunks(waiting, FILTER_VALUES_LIMIT):
                    self._submit(region, batch)
            self._waiting.clear()
            jobs = list(self._jobs)

        kept = {(i.region, i.digest) for i in wanted}
        findings: dict[str, Finding] = {}
        errors: list[SourceError] = []
        failed_regions: set[str] = set()
        for region, job in jobs:
            try:
                outcome = job.result()
            except AwsCallError as exc:
                failed_regions.add(region)
                _add_error(errors, f"inspector2:{region}", exc)
                continue
            for finding in outcome:
                if (finding.image.region, finding.image.digest) in kept:
                    findings.setdefault(finding.finding_arn, finding)

        seen = {f.image for f in findings.values()}
        # Coverage on the lookup's own pool: its threads are idle now, and keep their clients.
        asked: list[tuple[str, Future[list[Coverage]]]] = []
        for region, region_images in sorted(by_region.items()):
            if region in failed_regions:
                continue  # without findings, coverage alone would call vulnerable images clean
            unseen = sorted((i for i in region_images if i not in seen), key=resource_id)
            for some in chunks(unseen, FILTER_VALUES_LIMIT):
                asked.append((region, self._pool.submit(_list_coverage, self._aws, region, some)))
        coverage: dict[ScannedImage, Coverage] = {}
        for region, pending in asked:
            try:
                coverage.update((c.image, c) for c in pending.result())
            except AwsCallError as exc:
                _add_error(errors, f"inspector2:{region}", exc)
        # An `inspector2:REGION` error tells the join not to call that region's images clean.
        return FindingsResult(tuple(findings.values()), tuple(coverage.values()), tuple(errors))


def _add_error(errors: list[SourceError], source: str, exc: AwsCallError) -> None:
    if not any(e.source == source for e in errors):
        log.warning("%s", exc)
        errors.append(SourceError(source, exc.message, exc.code))


def _list_findings(aws: Aws, region: str, digests: Sequence[str], filters: FindingFilters) -> list[Finding]:
    client = aws.inspector2(region)
    out: list[Finding] = []
    with calling("inspector2", "ListFindings", region):
        pages = client.get_paginator("list_findings").paginate(
            filterCriteria=filters.criteria(digests),  # type: ignore[arg-type]
            PaginationConfig={"PageSize": LIST_FINDINGS_PAGE},
        )
        for page in pages:
            out.extend(f for f in (parse_finding(raw) for raw in page.get("findings", [])) if f is not None)
    return out


def _list_coverage(aws: Aws, region: str, images: Sequence[ScannedImage]) -> list[Coverage]:
    client = aws.inspector2(region)
    wanted = {resource_id(i): i for i in images}
    out: list[Coverage] = []
    with calling("inspector2", "ListCoverage", region):
        pages = client.get_paginator("list_coverage").paginate(
            filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": rid} for rid in wanted]},
            PaginationConfig={"PageSize": LIST_COVERAGE_PAGE},
        )
        for page in pages:
            for record in page.get("coveredResources", []):
                image = wanted.get(record.get("resourceId", ""))
                status: Any = record.get("scanStatus") or {}
                if image is not None:
                    out.append(Coverage(image, status.get("statusCode", ""), status.get("reason", "")))
    return out


def _timestamp(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


# An ECR image's resource id: arn:PARTITION:ecr:REGION:ACCOUNT:repository/REPOSITORY/sha256:HEX
_IMAGE_RESOURCE_ID = re.compile(
    r"arn:[^:]+:ecr:(?P<region>[^:]+):(?P<account>\d{12}):repository/(?P<repository>.+)/(?P<digest>sha256:[0-9a-f]{64})"
)


def parse_finding(raw: Any) -> Finding | None:
    """A finding as Inspector2 returns it, tolerant of every optional field being absent; None where the
    finding names no ECR image (nothing to match it with)."""
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
            name=str(p.get("name", "")),
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
        image=ScannedImage(account, region, repository, digest),
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
    )
