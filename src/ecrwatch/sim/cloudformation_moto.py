"""moto's CloudFormation, corrected where the deployment kit's templates meet its gaps. Imported (and
installed) by ecrwatch.sim.cloudformation on the first CloudFormation request only: these modules of moto load
every resource model moto has, which the demo and the other tests need not pay for.

The kit's templates (deploy/aws/*.yaml) are tested by deploying them here, so these must be as on AWS:

- An AWS::IAM::Role's inline policies (`Policies[].PolicyDocument`): moto stores the Python objects the
  template parsed into, so IAM's GetRolePolicy answers with their repr instead of the JSON document AWS
  returns, and the document skips the checks PutRolePolicy makes. Here each is kept as JSON text and refused
  when malformed (MalformedPolicyDocument), before the role is made.
- The AWS::Partition pseudo parameter: moto says `aws` in every region; AWS says the region's partition
  (`aws-cn` in cn-north-1, `aws-us-gov` in us-gov-west-1), and so does AWS::URLSuffix.
- Parameter constraints: moto ignores AllowedPattern, AllowedValues, MinLength and MaxLength; AWS refuses the
  stack (ValidationError, nothing created), the message naming the parameter and its ConstraintDescription.
- NoEcho: moto masks a parameter whose *value* happens to equal a NoEcho parameter's *name*; AWS shows `****`
  for every NoEcho parameter in DescribeStacks.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Stack
from moto.cloudformation.parsing import ResourceMap
from moto.iam.models import Role
from moto.iam.policy_validation import IAMPolicyDocumentValidator
from moto.utilities.utils import get_partition

URL_SUFFIXES = {"aws-cn": "amazonaws.com.cn"}

_create_role = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_resource_map_init = ResourceMap.__init__
_load_parameters = ResourceMap.load_parameters


def _create_role_from_template(
    cls: type[Role], resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any
) -> Role:
    resource = copy.deepcopy(cloudformation_json)
    for policy in resource.get("Properties", {}).get("Policies", []):
        document = policy["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        IAMPolicyDocumentValidator(text).validate()
        policy["PolicyDocument"] = text
    role: Role = _create_role(cls, resource_name, resource, *args, **kwargs)
    return role


def _resource_map_in_its_partition(self: ResourceMap, *args: Any, **kwargs: Any) -> None:
    _resource_map_init(self, *args, **kwargs)
    partition = get_partition(self._region_name)
    self._parsed_resources["AWS::Partition"] = partition
    self._parsed_resources["AWS::URLSuffix"] = URL_SUFFIXES.get(partition, "amazonaws.com")


def constraint_broken(name: str, slot: dict[str, Any], value: str) -> str | None:
    """Why CloudFormation refuses this value of a String parameter, or None. AllowedPattern must match the
    whole value."""
    problem = None
    if "AllowedValues" in slot and value not in [str(v) for v in slot["AllowedValues"]]:
        problem = "must be one of AllowedValues"
    elif "AllowedPattern" in slot and re.fullmatch(slot["AllowedPattern"], value) is None:
        problem = f"must match pattern {slot['AllowedPattern']}"
    elif "MinLength" in slot and len(value) < int(slot["MinLength"]):
        problem = f"must contain at least {slot['MinLength']} characters"
    elif "MaxLength" in slot and len(value) > int(slot["MaxLength"]):
        problem = f"must contain at most {slot['MaxLength']} characters"
    if problem is None:
        return None
    if "ConstraintDescription" in slot:
        return f"Parameter '{name}' failed to satisfy constraint: {slot['ConstraintDescription']}"
    return f"Parameter '{name}' {problem}"


def _load_checked_parameters(self: ResourceMap) -> None:
    slots: dict[str, dict[str, Any]] = self._template.get("Parameters", {})
    for name, slot in slots.items():
        value = self.input_parameters.get(name, slot.get("Default"))
        if slot.get("Type", "String") == "String" and isinstance(value, str):
            problem = constraint_broken(name, slot, value)
            if problem is not None:
                raise ValidationError(message=problem)
    _load_parameters(self)


def _parameter_list(self: Stack) -> list[dict[str, Any]]:
    hidden = set(self.resource_map.no_echo_parameter_keys)
    return [
        {"ParameterKey": key, "ParameterValue": "****" if key in hidden else value}
        for key, value in self.resource_map.resolved_parameters.items()
    ]


def install() -> None:
    """Apply the corrections to moto (idempotent: they wrap the originals kept at import)."""
    Role.create_from_cloudformation_json = classmethod(_create_role_from_template)  # type: ignore[assignment]
    ResourceMap.__init__ = _resource_map_in_its_partition  # type: ignore[method-assign]
    ResourceMap.load_parameters = _load_checked_parameters  # type: ignore[method-assign]
    Stack.parameter_list = property(_parameter_list)  # type: ignore[assignment, method-assign]
