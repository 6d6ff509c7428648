"""The simulated Amazon Inspector2 service, served in place of moto's (which is too thin for ecrwatch).

Requests are checked against botocore's own model of the service (types, enums, lengths, ranges,
patterns, required members) and refused with a ValidationException as AWS refuses them, then answered from
a per-region store:

- Account status: per resource type DISABLED / ENABLING / ENABLED / DISABLING. `Enable` starts a
  transition that completes after `enable_after_polls` further BatchGetAccountStatus calls (0: at once),
  so callers must poll, as they must against AWS. A resource type that reaches DISABLED loses its
  findings and coverage (for ECR), as Inspector deletes them.
- Configuration: the ECR rescan durations, with the documented defaults for a new account until set.

Seed the store through the methods below (`set_account_status`, ...); they validate what they are given,
so that a test cannot seed something AWS would never return.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StringShape, StructureShape

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

# ResourceScanType (what Enable/Disable take) -> its key in ResourceStatus / ResourceState.
RESOURCE_KEYS: Mapping[str, str] = {
    "EC2": "ec2",
    "ECR": "ecr",
    "LAMBDA": "lambda",
    "LAMBDA_CODE": "lambdaCode",
    "CODE_REPOSITORY": "codeRepository",
}
STATUSES = frozenset({"ENABLING", "ENABLED", "DISABLING", "DISABLED", "SUSPENDING", "SUSPENDED"})

# What GetConfiguration reports for an account that never set its ECR rescan durations. The user guide
# ("Configuring the Amazon ECR re-scan duration") gives 14 days, by last-in-use date, for new accounts since
# 16 May 2025 (it was 90 days before, and LIFETIME before that); a test may set older defaults here.
ECR_DEFAULTS: Mapping[str, str] = {
    "rescanDuration": "DAYS_14",
    "pullDateRescanDuration": "DAYS_14",
    "pullDateRescanMode": "LAST_IN_USE_AT",
}


@cache
def _model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("inspector2")


def _enum(shape_name: str) -> frozenset[str]:
    return frozenset(_enum_of(_model().shape_for(shape_name)))


# --- errors ---


class ValidationError(SimError):
    """A ValidationException with the `reason` and `fields` members the model gives it."""

    def __init__(self, problems: Sequence[tuple[str, str]], reason: str = "FIELD_VALIDATION_FAILED") -> None:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        message = f"{count} validation {noun} detected: " + "; ".join(text for _, text in problems)
        super().__init__("ValidationException", message, 400)
        self.reason = reason
        self.fields = [{"name": name, "message": text} for name, text in problems]

    def response(self) -> SimResponse:
        payload = {"message": self.message, "reason": self.reason, "fields": self.fields}
        return SimResponse(
            400,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", "x-amzn-ErrorType": "ValidationException"},
        )


def _invalid(name: str, text: str) -> ValidationError:
    return ValidationError([(name, text)])


# --- request validation against the service model ---


def _constraint(value: Any, path: str, rule: str) -> tuple[str, str]:
    shown = "null" if value is None else f"'{value}'"
    return path, f"Value {shown} at '{path}' failed to satisfy constraint: Member must {rule}"


def _check_range(
    shape: Shape, size: int | float, value: Any, path: str, what: str, problems: list[tuple[str, str]]
) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        problems.append(_constraint(value, path, f"have {what} greater than or equal to {low}"))
    if high is not None and size > high:
        problems.append(_constraint(value, path, f"have {what} less than or equal to {high}"))


def validate_input(shape: Shape, value: Any, path: str, problems: list[tuple[str, str]]) -> None:
    """Append (member path, message) for each way `value` breaks `shape`, in the wording AWS uses."""
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            problems.append(_constraint(value, path, "be a structure"))
            return
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(_constraint(None, _join(path, name), "not be null"))
        for name, item in value.items():
            if name in shape.members and item is not None:
                validate_input(shape.members[name], item, _join(path, name), problems)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            problems.append(_constraint(value, path, "be a list"))
            return
        _check_range(shape, len(value), value, path, "length", problems)
        for index, item in enumerate(value, 1):
            validate_input(shape.member, item, f"{path}.{index}.member", problems)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            problems.append(_constraint(value, path, "be a map"))
            return
        for key, item in value.items():
            validate_input(shape.key, key, f"{path}.{key}.key", problems)
            validate_input(shape.value, item, f"{path}.{key}.value", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(_constraint(value, path, "be a string"))
            return
        enum = _enum_of(shape)
        if enum and value not in enum:
            problems.append(_constraint(value, path, f"satisfy enum value set: [{', '.join(enum)}]"))
        _check_range(shape, len(value), value, path, "length", problems)
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append(_constraint(value, path, f"satisfy regular expression pattern: {pattern}"))
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(_constraint(value, path, "be an integer"))
            return
        _check_range(shape, value, value, path, "value", problems)
    elif kind in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(_constraint(value, path, "be a number"))
            return
        _check_range(shape, value, value, path, "value", problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(_constraint(value, path, "be a boolean"))
    elif kind == "timestamp" and parse_timestamp(value) is None:
        problems.append(_constraint(value, path, "be a timestamp"))


def _enum_of(shape: Shape) -> list[str]:
    return list(shape.enum) if isinstance(shape, StringShape) else []


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def parse_timestamp(value: Any) -> float | None:
    """A request timestamp as epoch seconds: rest-json sends numbers; ISO 8601 is accepted too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _parse(request: SimRequest) -> dict[str, Any]:
    """The request's parameters, checked against the operation's input shape."""
    try:
        params = request.json()
    except ValueError as exc:
        raise ValidationError([("body", f"Could not parse the request body as JSON: {exc}")], "CANNOT_PARSE") from exc
    if not isinstance(params, dict):
        raise ValidationError([("body", "The request body must be a JSON object")], "CANNOT_PARSE")
    problems: list[tuple[str, str]] = []
    shape = _model().operation_model(request.operation).input_shape
    if shape is not None:
        validate_input(shape, params, "", problems)
    if problems:
        raise ValidationError(problems)
    return params


# --- account status and configuration ---


@dataclass
class _Account:
    """One account's Inspector state in one region."""

    status: dict[str, str] = field(default_factory=lambda: dict.fromkeys(RESOURCE_KEYS.values(), "DISABLED"))
    polls: dict[str, int] = field(default_factory=dict)  # resource key -> status polls seen in transition
    ecr_config: dict[str, str] = field(default_factory=dict)  # empty: never set, the defaults apply
    ecr_config_updated_at: float = field(default_factory=time.time)
    ec2_scan_mode: str = "EC2_SSM_AGENT_BASED"

    def overall(self) -> str:
        values = set(self.status.values())
        for status in ("ENABLING", "DISABLING", "SUSPENDING", "ENABLED", "SUSPENDED"):
            if status in values:
                return status
        return "DISABLED"


class Inspector2Sim:
    """Inspector2 operations served from our own store (see the module docstring)."""

    service = "inspector2"
    operations = frozenset({"Enable", "Disable", "BatchGetAccountStatus", "GetConfiguration", "UpdateConfiguration"})

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._accounts: dict[tuple[str, str], _Account] = {}  # (region, account) -> state
        self.enable_after_polls = 1
        self.disable_after_polls = 1
        self.ecr_defaults: dict[str, str] = dict(ECR_DEFAULTS)

    def reset(self) -> None:
        with self._lock:
            self._accounts.clear()
            self.enable_after_polls = 1
            self.disable_after_polls = 1
            self.ecr_defaults = dict(ECR_DEFAULTS)

    # --- seeding ---

    def set_account_status(
        self,
        region: str,
        *,
        account: str = ACCOUNT_ID,
        ecr: str | None = None,
        ec2: str | None = None,
        lambda_: str | None = None,
        lambda_code: str | None = None,
        code_repository: str | None = None,
    ) -> None:
        """Set resource-type statuses directly (no transition): `set_account_status("us-east-1", ecr="ENABLED")`."""
        wanted = {
            "ecr": ecr,
            "ec2": ec2,
            "lambda": lambda_,
            "lambdaCode": lambda_code,
            "codeRepository": code_repository,
        }
        for key, status in wanted.items():
            if status is not None and status not in STATUSES:
                raise ValueError(f"{key} status {status!r} is not one of {sorted(STATUSES)}")
        with self._lock:
            state = self._account(region, account)
            for key, status in wanted.items():
                if status is not None:
                    state.status[key] = status
                    state.polls.pop(key, None)

    def ecr_status(self, region: str, account: str = ACCOUNT_ID) -> str:
        with self._lock:
            return self._account(region, account).status["ecr"]

    def set_ecr_configuration(
        self,
        region: str,
        *,
        account: str = ACCOUNT_ID,
        rescan_duration: str,
        pull_date_rescan_duration: str | None = None,
        pull_date_rescan_mode: str | None = None,
    ) -> None:
        """Seed the ECR rescan durations as if UpdateConfiguration had set them."""
        wanted = {
            "rescanDuration": rescan_duration,
            "pullDateRescanDuration": pull_date_rescan_duration,
            "pullDateRescanMode": pull_date_rescan_mode,
        }
        problems: list[tuple[str, str]] = []
        validate_input(_model().shape_for("EcrConfiguration"), {k: v for k, v in wanted.items() if v}, "", problems)
        if problems:
            raise ValueError("; ".join(text for _, text in problems))
        with self._lock:
            self._set_ecr_config(self._account(region, account), wanted)

    def ecr_configuration(self, region: str, account: str = ACCOUNT_ID) -> dict[str, str]:
        """The effective ECR rescan durations (the defaults where never set)."""
        with self._lock:
            return self._ecr_config(self._account(region, account))

    # --- the service ---

    def handle(self, request: SimRequest) -> SimResponse:
        try:
            params = _parse(request)
            payload = getattr(self, "_op_" + _snake(request.operation))(request.region, params)
        except ValidationError as exc:
            return exc.response()
        return SimResponse.json(payload)

    def _account(self, region: str, account: str) -> _Account:
        state = self._accounts.get((region, account))
        if state is None:
            state = self._accounts[(region, account)] = _Account()
        return state

    def _known(self, region: str, account: str) -> bool:
        """The caller's own account, and any account a test seeded (a member of the caller's organisation)."""
        return account == ACCOUNT_ID or (region, account) in self._accounts

    def _op_enable(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        keys = [RESOURCE_KEYS[t] for t in params["resourceTypes"]]
        return self._toggle(region, params.get("accountIds") or [ACCOUNT_ID], keys, enable=True)

    def _op_disable(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        # Without resourceTypes, Disable turns Inspector off for every resource type.
        keys = [RESOURCE_KEYS[t] for t in params.get("resourceTypes") or RESOURCE_KEYS]
        return self._toggle(region, params.get("accountIds") or [ACCOUNT_ID], keys, enable=False)

    def _toggle(self, region: str, account_ids: list[str], keys: list[str], *, enable: bool) -> dict[str, Any]:
        accounts, failed = [], []
        with self._lock:
            for account in dict.fromkeys(account_ids):
                if not self._known(region, account):
                    failed.append(_failed(account, "ACCESS_DENIED", "The account is not a member of your organization"))
                    continue
                state = self._account(region, account)
                blocked = [k for k in keys if state.status[k] == ("DISABLING" if enable else "ENABLING")]
                if blocked:
                    code = "DISABLE_IN_PROGRESS" if enable else "ENABLE_IN_PROGRESS"
                    failed.append({**_failed(account, code, f"{blocked[0]} is changing state"), **_status(state)})
                    continue
                for key in keys:
                    self._start_transition(region, account, state, key, enable=enable)
                accounts.append({"accountId": account, **_status(state)})
        response: dict[str, Any] = {"accounts": accounts}
        if failed:
            response["failedAccounts"] = failed
        return response

    def _start_transition(self, region: str, account: str, state: _Account, key: str, *, enable: bool) -> None:
        current = state.status[key]
        if current in (("ENABLED", "ENABLING") if enable else ("DISABLED", "DISABLING")):
            return
        polls = self.enable_after_polls if enable else self.disable_after_polls
        if polls <= 0:
            self._finish(region, account, state, key, "ENABLED" if enable else "DISABLED")
        else:
            state.status[key] = "ENABLING" if enable else "DISABLING"
            state.polls[key] = 0

    def _finish(self, region: str, account: str, state: _Account, key: str, status: str) -> None:
        state.status[key] = status
        state.polls.pop(key, None)
        if key == "ecr" and status == "DISABLED":
            self._forget_ecr(region, account)

    def _forget_ecr(self, region: str, account: str) -> None:
        """Inspector deletes an account's ECR findings and coverage when ECR scanning is deactivated."""

    def _op_batch_get_account_status(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        accounts, failed = [], []
        with self._lock:
            for account in dict.fromkeys(params.get("accountIds") or [ACCOUNT_ID]):
                if not self._known(region, account):
                    failed.append(_failed(account, "ACCESS_DENIED", "The account is not a member of your organization"))
                    continue
                state = self._account(region, account)
                accounts.append(
                    {
                        "accountId": account,
                        "state": {"status": state.overall()},
                        "resourceState": {key: {"status": status} for key, status in state.status.items()},
                    }
                )
                self._advance(region, account, state)
        response: dict[str, Any] = {"accounts": accounts}
        if failed:
            response["failedAccounts"] = failed
        return response

    def _advance(self, region: str, account: str, state: _Account) -> None:
        """One more status poll has seen each transition in progress: complete those that are due."""
        for key in list(state.polls):
            state.polls[key] += 1
            enabling = state.status[key] == "ENABLING"
            due = self.enable_after_polls if enabling else self.disable_after_polls
            if state.polls[key] >= due:
                self._finish(region, account, state, key, "ENABLED" if enabling else "DISABLED")

    def _op_get_configuration(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            state = self._configured_account(region, params)
            rescan = {
                **self._ecr_config(state),
                "status": "SUCCESS",
                "updatedAt": state.ecr_config_updated_at,
            }
            return {
                "ecrConfiguration": {"rescanDurationState": rescan},
                "ec2Configuration": {"scanModeState": {"scanMode": state.ec2_scan_mode, "scanModeStatus": "SUCCESS"}},
            }

    def _op_update_configuration(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        for unsupported in ("amiConfiguration", "updateConfigurationInheritance"):
            if unsupported in params:
                raise _invalid(unsupported, f"{unsupported} is not supported by the simulator")
        if "ecrConfiguration" not in params and "ec2Configuration" not in params:
            raise _invalid("ecrConfiguration", "At least one configuration must be given")
        with self._lock:
            state = self._configured_account(region, params)
            if "ecrConfiguration" in params:
                self._set_ecr_config(state, params["ecrConfiguration"])
            if "ec2Configuration" in params:
                state.ec2_scan_mode = params["ec2Configuration"]["scanMode"]
        return {}

    def _configured_account(self, region: str, params: dict[str, Any]) -> _Account:
        account = params.get("accountId") or ACCOUNT_ID
        if not self._known(region, account):
            raise SimError("AccessDeniedException", f"You do not have access to account {account}", 403)
        return self._account(region, account)

    def _ecr_config(self, state: _Account) -> dict[str, str]:
        return {**self.ecr_defaults, **state.ecr_config}

    def _set_ecr_config(self, state: _Account, given: Mapping[str, str | None]) -> None:
        # Members left out keep their current values (the pull-date settings are optional in the request).
        for key in ECR_DEFAULTS:
            value = given.get(key)
            if value is not None:
                state.ecr_config[key] = value
        state.ecr_config_updated_at = time.time()


def _status(state: _Account) -> dict[str, Any]:
    return {"status": state.overall(), "resourceStatus": dict(state.status)}


def _failed(account: str, code: str, message: str) -> dict[str, Any]:
    return {"accountId": account, "errorCode": code, "errorMessage": message}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
