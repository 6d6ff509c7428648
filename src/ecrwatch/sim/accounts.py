"""Several AWS accounts in the simulated endpoint: who is calling, entering an account with a role, and an
organisation to select accounts from.

moto already keeps each account's data apart and lets credentials returned by `sts:AssumeRole` act in the
role's account (it maps the access key to the account). What it does not do is refuse an AssumeRole: it
accepts any role ARN, existing or not, whatever the role's trust policy says. `StsSim` refuses as AWS does
(`AccessDenied`, HTTP 403) where the role does not exist, where its trust policy does not name the caller,
or where the policy's `sts:ExternalId` condition is not met, then lets moto issue the credentials.

Our own extensions (ECS, EKS, ECR's corrections, Inspector) serve the account the request is signed for:
`caller_account` is moto's own rule (an access key issued by AssumeRole belongs to the role's account;
any other key is the default account's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from moto.iam.models import iam_backends
from moto.organizations.models import organizations_backends

from ecrwatch.sim.callers import KEY_ACCOUNTS, access_key_of
from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

ROLE_SESSION_LIMIT = 64


def caller_arn(account: str, access_key: str | None) -> str:
    """The caller's ARN as AWS names it in an AccessDenied message."""
    for partition in ("aws",):
        keys = iam_backends[account][partition].access_keys
        key = keys.get(access_key or "")
        role_arn = getattr(key, "role_arn", None)
        if role_arn:
            role = role_arn.split(":role/", 1)[-1].rsplit("/", 1)[-1]
            return f"arn:aws:sts::{account}:assumed-role/{role}/ecrwatch"
    return f"arn:aws:iam::{account}:user/moto"


def principal_arn(account: str, access_key: str | None) -> str:
    """The caller as `aws:PrincipalArn` names it: a role session by its role's ARN (path included)."""
    key = iam_backends[account]["aws"].access_keys.get(access_key or "")
    role_arn = getattr(key, "role_arn", None)
    return str(role_arn) if role_arn else f"arn:aws:iam::{account}:user/moto"


# --- roles and their trust policies -------------------------------------------------------------------


def trust_policy(trusted_account: str, external_id: str | None = None, *, partition: str = "aws") -> str:
    """A role's trust policy letting `trusted_account` (its root: any principal its IAM allows) assume it,
    with an `sts:ExternalId` condition when one is given: what `ecrwatch iam-policy --org` prints."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{trusted_account}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_role(account: str, name: str, policy_document: str, *, path: str = "/") -> str:
    """Create an IAM role in `account` (in moto's store, as if deployed there); returns its ARN."""
    role = iam_backends[account]["aws"].create_role(
        role_name=name,
        assume_role_policy_document=policy_document,
        path=path,
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration="3600",
    )
    return str(role.arn)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, caller_account_id: str, caller: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    for value in _as_list(principal.get("AWS", [])):
        if value in ("*", caller_account_id, caller) or value.endswith(f"::{caller_account_id}:root"):
            return True
    return False


def _conditions_met(condition: Any, external_id: str | None, principal: str | None = None) -> bool:
    """Only the conditions ecrwatch's roles use are understood (StringEquals on sts:ExternalId; ArnEquals on
    aws:PrincipalArn, which deploy/aws/member-roles.yaml adds to narrow the trust to one hub role); any other
    makes the statement not apply (a refusal the test can see, never a grant the policy did not give)."""
    if not condition:
        return True
    if not isinstance(condition, Mapping) or not set(condition) <= {"StringEquals", "ArnEquals"}:
        return False
    for operator, values in condition.items():
        if not isinstance(values, Mapping):
            return False
        if operator == "StringEquals":
            if set(values) != {"sts:ExternalId"}:
                return False
            if external_id is None or external_id not in _as_list(values["sts:ExternalId"]):
                return False
        else:
            if set(values) != {"aws:PrincipalArn"} or principal is None:
                return False
            if principal not in _as_list(values["aws:PrincipalArn"]):
                return False
    return True


def trust_allows(
    policy_document: str, caller_account_id: str, caller: str, external_id: str | None, principal: str | None = None
) -> bool:
    """Whether a role's trust policy lets this caller assume it: an Allow naming the caller (its account
    or ARN) with its conditions met, and no Deny that applies."""
    try:
        policy = json.loads(policy_document)
    except ValueError:
        return False
    allowed = False
    for statement in _as_list(policy.get("Statement", [])):
        actions = _as_list(statement.get("Action", []))
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        if not _principal_matches(statement.get("Principal"), caller_account_id, caller):
            continue
        if not _conditions_met(statement.get("Condition"), external_id, principal):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class StsSim:
    """sts:AssumeRole checked as AWS checks it before moto issues the credentials."""

    service = "sts"
    operations = frozenset({"AssumeRole"})

    def reset(self) -> None:
        KEY_ACCOUNTS.clear()

    def handle(self, request: SimRequest) -> SimResponse | None:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        form.update({k: v[0] for k, v in request.query.items() if k not in form})
        role_arn = form.get("RoleArn", "")
        external_id = form.get("ExternalId")
        if external_id is not None and not 2 <= len(external_id) <= 1224:
            raise SimError(
                "ValidationError",
                "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have "
                "length between 2 and 1224",
            )
        access_key = access_key_of(request.headers, request.query)
        account = KEY_ACCOUNTS.account(access_key)
        caller = caller_arn(account, access_key)
        denied = SimError(
            "AccessDenied",
            f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            403,
        )
        parts = role_arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise SimError("ValidationError", f"{role_arn} is invalid")
        target_account = parts[4]
        backend = iam_backends[target_account][parts[1] if parts[1] else "aws"]
        role = next((r for r in backend.roles.values() if r.arn == role_arn), None)
        if role is None:
            raise denied
        principal = principal_arn(account, access_key)
        if not trust_allows(role.assume_role_policy_document, account, caller, external_id, principal):
            raise denied
        return None  # moto issues credentials acting in the role's account


# --- an organisation ----------------------------------------------------------------------------------


class SimOrganization:
    """AWS Organizations as moto keeps it, seeded directly (no call is logged): the management account is
    the simulator's default account, the one the test credentials act in."""

    def __init__(self, management: str = ACCOUNT_ID, region: str = "us-east-1") -> None:
        self.management = management
        self._backend = organizations_backends[management]["aws"]
        if self._backend.org is None:
            self._backend.create_organization(region=region, FeatureSet="ALL")
        self.root = str(self._backend.list_roots()["Roots"][0]["Id"])

    def add_ou(self, name: str, parent: str | None = None) -> str:
        created = self._backend.create_organizational_unit(ParentId=parent or self.root, Name=name)
        return str(created["OrganizationalUnit"]["Id"])

    def add_account(self, name: str, parent: str | None = None, *, suspended: bool = False) -> str:
        """A member account (moto picks its id), under `parent` (default: the root)."""
        status = self._backend.create_account(AccountName=name, Email=f"{name}@example.com")
        account = str(status["CreateAccountStatus"]["AccountId"])
        if parent is not None:
            self._backend.move_account(AccountId=account, SourceParentId=self.root, DestinationParentId=parent)
        if suspended:
            self._backend.close_account(AccountId=account)
        return account

    def accounts(self) -> Iterable[str]:
        return [a.id for a in self._backend.accounts]


def session_in(account: str, region: str, *, operator_role: str = "sim-operator") -> Any:
    """A boto3 session acting in `account`, through a role of its own assumed by the default account: how a
    seed reaches another account's APIs (ECR pushes), as an operator in that account would."""
    import boto3

    backend = iam_backends[account]["aws"]
    arn = next((r.arn for r in backend.roles.values() if r.name == operator_role), None)
    if arn is None:
        arn = create_role(account, operator_role, trust_policy(ACCOUNT_ID))
    answer = boto3.client("sts", region_name=region).assume_role(RoleArn=arn, RoleSessionName="seed")
    credentials = answer["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


class IssuedSecrets(Mapping[str, str]):
    """The secret key of every temporary access key STS has issued (assumed-role credentials, in any
    account): what a simulated EKS API server checks a member account's token against."""

    def _key(self, access_key: str) -> Any:
        for backends in list(iam_backends.values()):
            key = backends["aws"].access_keys.get(access_key)
            if key is not None:
                return key
        return None

    def __getitem__(self, access_key: str) -> str:
        key = self._key(access_key)
        if key is None:
            raise KeyError(access_key)
        return str(key.secret_access_key)

    def __iter__(self) -> Iterator[str]:
        return iter([k for backends in list(iam_backends.values()) for k in backends["aws"].access_keys])

    def __len__(self) -> int:
        return sum(1 for _ in self)
