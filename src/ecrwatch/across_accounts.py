"""`check` across accounts: every selected account entered with the role and read with its own clients, side
by side, and what the report says of each (DESIGN.md, "Organisations").

An account is read as soon as it is entered: its first job makes its one AssumeRole, then reads. Entering every
account first and reading them after made the run wait for the slowest AssumeRole before any account was read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ecrwatch.accounts import Entered, Selection
from ecrwatch.aws import AccountUnavailable, Aws
from ecrwatch.errors import CredentialsError
from ecrwatch.inventory.jobs import OnWorkloads, SourceJob, inventory_jobs, source_jobs
from ecrwatch.models import AccountDetail, Inventory, Report, SourceError

if TYPE_CHECKING:
    from ecrwatch.check import CheckRequest

log = logging.getLogger(__name__)


def account_jobs(
    aws: Aws,
    request: CheckRequest,
    on_workloads: OnWorkloads | None,
    accounts: Sequence[str],
    caller: str,
) -> list[Callable[[], Inventory]]:
    """The inventory jobs of every selected account, each entering its account (once: the first to ask makes
    the AssumeRole, the others wait for it) and reading with that account's clients, its clusters and errors
    marked with the account. Kubeconfig contexts are read once, with the caller's credentials."""
    jobs: list[Callable[[], Inventory]] = []
    for account in accounts:
        scoped = request if account == caller else replace(request, kubeconfig=None, kube_contexts=())
        ecs_clusters = _selectors_in(request.ecs_clusters, account)
        eks_clusters = _selectors_in(request.eks_clusters, account)
        scoped = replace(
            scoped,
            # Clusters named only by other accounts' ARNs: none of this account's are wanted.
            ecs=request.ecs and not (request.ecs_clusters and not ecs_clusters),
            ecs_clusters=ecs_clusters,
            eks=request.eks and not (request.eks_clusters and not eks_clusters),
            eks_clusters=eks_clusters,
        )
        jobs.extend(
            _AccountJob(aws, account, job, isolate=account != caller) for job in source_jobs(scoped, on_workloads)
        )
    if caller not in accounts and (request.kubeconfig or request.kube_contexts):
        contexts = replace(request, ecs=False, ecs_clusters=(), eks=False, eks_clusters=())
        jobs.extend(inventory_jobs(aws, contexts, on_workloads))
    return jobs


@dataclass(frozen=True)
class _AccountJob:
    """One source of one account: the account entered (or found refused), then read with its clients."""

    aws: Aws
    account: str
    job: SourceJob
    isolate: bool  # another account's: its credentials refused are its error, not the run's exit 2

    def __call__(self) -> Inventory:
        try:
            clients = self.aws.account(self.account)
        except AccountUnavailable:
            return Inventory()  # the account's one error comes from `Entered.errors`, once, not once a source
        return in_account(lambda: self.job(clients), self.account, isolate=self.isolate)


def in_account(job: Callable[[], Inventory], account: str, *, isolate: bool) -> Inventory:
    """One account's inventory job, its clusters and errors marked with the account. Another account's
    credentials refused make that account's error, not the run's exit 2: the caller's own credentials are
    not in question. Every use of them (its calls, its EKS tokens) already goes through `calling_in`, which
    makes such a refusal the failure of one call or cluster; this is the last line, for a use that would not."""
    try:
        part = job()
    except CredentialsError as exc:
        if not isolate:
            raise
        log.warning("%s", exc.message)
        return Inventory(errors=(SourceError(f"account:{account}", exc.message, exc.code, account=account),))
    return Inventory(
        part.workloads,
        tuple(replace(c, account=account) for c in part.clusters),
        tuple(replace(e, account=account) for e in part.errors),
    )


_NOT_FOUND_CODES = frozenset({"ClusterNotFoundException", "ResourceNotFoundException"})


def names_across_accounts(inventory: Inventory, request: CheckRequest) -> Inventory:
    """A cluster named with --ecs-cluster / --eks-cluster is looked for in every account: it is an error only
    where no account has it, and then once (no account of its own), as a name no region has is one error."""
    names = {("ecs", n) for n in request.ecs_clusters if not n.startswith("arn:")}
    names |= {("eks", n) for n in request.eks_clusters if not n.startswith("arn:")}
    found = {(c.platform, c.name) for c in inventory.clusters}
    kept: list[SourceError] = []
    told: set[tuple[str, str]] = set()
    for error in inventory.errors:
        platform, _, where = error.source.partition(":")
        named = (platform, where.rsplit("/", 1)[-1])
        if error.code in _NOT_FOUND_CODES and named in names:
            if named in found or named in told:
                continue
            told.add(named)
            error = replace(error, account=None)
        kept.append(error)
    return Inventory(inventory.workloads, inventory.clusters, tuple(kept))


def arns_outside(request: CheckRequest, selection: Selection) -> list[SourceError]:
    """A cluster ARN of an account that is not selected is read nowhere: an error, never silently skipped."""
    selected = {a.account for a in selection.accounts}
    errors = []
    for platform, selectors in (("ecs", request.ecs_clusters), ("eks", request.eks_clusters)):
        for arn in selectors:
            parts = arn.split(":")
            if arn.startswith("arn:") and len(parts) > 5 and parts[4] not in selected:
                source = f"{platform}:{parts[3]}/{arn.rsplit('/', 1)[-1]}"
                message = f"{arn} is in account {parts[4]}, which is not among the selected accounts"
                errors.append(SourceError(source, message, None, account=parts[4]))
    return errors


def _selectors_in(selectors: Sequence[str], account: str) -> tuple[str, ...]:
    """Cluster names apply to every account; an ARN only to its own."""
    return tuple(s for s in selectors if not s.startswith("arn:") or s.split(":")[4:5] == [account])


def with_accounts(report: Report, selection: Selection, entered: Entered) -> Report:
    """The report of a multi-account run: the selected accounts (read or tried), each with whether it was
    read completely."""
    failed = {e.account for e in report.errors if e.account is not None}
    details = tuple(
        AccountDetail(a.account, a.name, a.account in entered.clients and a.account not in failed)
        for a in selection.accounts
    )
    accounts = tuple(a.account for a in selection.accounts)
    return replace(report, scope=replace(report.scope, accounts=accounts, account_details=details))
