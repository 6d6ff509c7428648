"""CISA Known Exploited Vulnerabilities data for the reported exposures, from Inspector2's
BatchGetFindingDetails (its `cisaData`).

KEV is per vulnerability, not per finding: one finding ARN is asked per distinct vulnerability id, ten ARNs
a call (the model's limit), each in the finding's own region, the calls side by side. Only the exposures the
report contains are asked about. A call or an ARN that fails is an `inspector2:REGION` errors entry: its
vulnerabilities are unknown, never "not in KEV".
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ecrwatch.aws import Aws, calling_in
from ecrwatch.errors import AwsCallError
from ecrwatch.models import Exposure, Kev, Report, SourceError

FINDING_ARNS_PER_CALL = 10  # FindingArnList: max 10
_FINDING_ARN = re.compile(r"arn:[^:]+:inspector2:(?P<region>[^:]+):(?P<account>\d{12}):finding/.+")


@dataclass(frozen=True)
class KevResult:
    kev: dict[str, Kev]  # vulnerability id -> KEV data, for those listed
    errors: tuple[SourceError, ...] = ()


def finding_to_ask(exposures: Iterable[Exposure]) -> dict[str, str]:
    """One finding ARN per distinct vulnerability id (the first in report order), vulnerability id -> ARN."""
    chosen: dict[str, str] = {}
    for exposure in exposures:
        chosen.setdefault(exposure.finding.vulnerability_id, exposure.finding.finding_arn)
    return chosen


def fetch_kev(
    aws: Aws, exposures: Sequence[Exposure], *, workers: int = 8, inspector_account: str | None = None
) -> KevResult:
    """KEV data of every vulnerability among `exposures`. Across accounts, each finding is asked about in its
    own account's Inspector (entered with the role), or in the delegated administrator's (`inspector_account`)."""
    # (whose Inspector is asked, region) -> (arn, vulnerability id); a single-account run asks its own alone
    by_place: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    readers: dict[str, Aws] = {}
    for vulnerability, arn in finding_to_ask(exposures).items():
        match = _FINDING_ARN.fullmatch(arn)
        if match is not None:
            reader = aws.reader(inspector_account or match["account"])
            readers.setdefault(reader.acting_account or "", reader)
            by_place[(reader.acting_account or "", match["region"])].append((arn, vulnerability))
    batches = [
        (readers[account], region, pairs[start : start + FINDING_ARNS_PER_CALL])
        for (account, region), pairs in sorted(by_place.items())
        for start in range(0, len(pairs), FINDING_ARNS_PER_CALL)
    ]
    if not batches:
        return KevResult({})
    kev: dict[str, Kev] = {}
    errors: dict[tuple[str, str | None], SourceError] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(batches))), thread_name_prefix="kev") as pool:
        answers = pool.map(lambda batch: _ask(*batch), batches)
        for (reader, _, _), (found, error) in zip(batches, answers, strict=True):
            kev.update(found)
            if error is not None:
                account = reader.account_in_errors
                errors.setdefault((error.source, account), replace(error, account=account))
    return KevResult(kev, tuple(errors.values()))


def _ask(aws: Aws, region: str, pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, Kev], SourceError | None]:
    vulnerability_of = dict(pairs)
    try:
        with calling_in(aws, "inspector2", "BatchGetFindingDetails", region):
            answer = aws.inspector2(region).batch_get_finding_details(findingArns=list(vulnerability_of))
    except AwsCallError as exc:
        return {}, SourceError(f"inspector2:{region}", f"KEV data could not be read: {exc.message}", exc.code)
    found: dict[str, Kev] = {}
    for detail in answer.get("findingDetails") or ():
        kev = _kev(detail.get("cisaData"))
        vulnerability = vulnerability_of.get(detail.get("findingArn") or "")
        if kev is not None and vulnerability is not None:
            found[vulnerability] = kev
    failed = answer.get("errors") or []
    if not failed:
        return found, None
    first = failed[0]
    unknown = ", ".join(sorted(vulnerability_of.get(e["findingArn"], e["findingArn"]) for e in failed))
    message = (
        f"KEV data could not be read for {unknown} (inspector2:BatchGetFindingDetails in {region}: "
        f"{first['errorCode']}: {first['errorMessage']})"
    )
    return found, SourceError(f"inspector2:{region}", message, first["errorCode"])


def _day(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    return None


def _kev(cisa: Any) -> Kev | None:
    """cisaData as a Kev; None where Inspector gives no date added (not in the catalogue)."""
    if not isinstance(cisa, dict):
        return None
    added = _day(cisa.get("dateAdded"))
    if added is None:
        return None
    return Kev(date_added=added, due_date=_day(cisa.get("dateDue")), action=cisa.get("action") or None)


def with_kev(report: Report, result: KevResult) -> Report:
    """The report with each exposure's `kev` set from `result`, and the lookup's errors added."""
    # Replaced only where `kev` changes: most exposures are not in KEV, and L has 20,000 of them.
    exposures = tuple(
        e if (kev := result.kev.get(e.finding.vulnerability_id)) == e.kev else replace(e, kev=kev)
        for e in report.exposures
    )
    return replace(report, exposures=exposures, errors=report.errors + result.errors)
