"""Our corrections to moto's CloudFormation (ecrwatch.sim.cloudformation): inline role policies come back from
IAM as JSON documents and malformed ones are refused, AWS::Partition is the region's, parameter constraints
are enforced, and NoEcho parameters are masked in DescribeStacks."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecrwatch.sim.server import SimAWS


def role_template(policy: dict[str, Any], **parameters: dict[str, Any]) -> str:
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": {"Name": {"Type": "String", "Default": "r"}, **parameters},
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "RoleName": {"Ref": "Name"},
                        "AssumeRolePolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Service": "lambda.amazonaws.com"},
                                    "Action": "sts:AssumeRole",
                                }
                            ],
                        },
                        "Policies": [{"PolicyName": "inline", "PolicyDocument": policy}],
                    },
                }
            },
            "Outputs": {"Partition": {"Value": {"Ref": "AWS::Partition"}}},
        }
    )


READ_ANY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ecs:ListClusters"], "Resource": {"Fn::Sub": "arn:${AWS::Partition}:*"}}
    ],
}


def create(body: str, region: str = "us-east-1", **parameters: str) -> dict[str, Any]:
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName="s",
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName="s")["Stacks"]
    return dict(stack)


@pytest.mark.parametrize(("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn")])
def test_an_inline_policy_reads_back_as_the_json_document_in_the_regions_partition(
    sim_aws: SimAWS, region: str, partition: str
) -> None:
    stack = create(role_template(READ_ANY), region)
    document = boto3.client("iam", region_name=region).get_role_policy(RoleName="r", PolicyName="inline")
    assert document["PolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["ecs:ListClusters"], "Resource": f"arn:{partition}:*"}],
    }
    assert stack["Outputs"] == [{"OutputKey": "Partition", "OutputValue": partition}]


def test_a_malformed_inline_policy_refuses_the_stack_and_makes_no_role(sim_aws: SimAWS) -> None:
    no_resource = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:ListClusters"}]}
    with pytest.raises(ClientError) as refused:
        create(role_template(no_resource))
    assert refused.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert boto3.client("iam").list_roles()["Roles"] == []


@pytest.mark.parametrize(
    ("slot", "value", "message"),
    [
        ({"AllowedPattern": "\\d{12}"}, "12345678901", "Parameter 'Hub' must match pattern \\d{12}"),
        ({"AllowedPattern": "\\d{12}"}, "123456789012x", "Parameter 'Hub' must match pattern \\d{12}"),
        ({"AllowedValues": ["true", "false"]}, "yes", "Parameter 'Hub' must be one of AllowedValues"),
        ({"MinLength": 2}, "a", "Parameter 'Hub' must contain at least 2 characters"),
        ({"MaxLength": 3}, "abcd", "Parameter 'Hub' must contain at most 3 characters"),
        (
            {"AllowedPattern": "\\d+", "ConstraintDescription": "digits only"},
            "x",
            "Parameter 'Hub' failed to satisfy constraint: digits only",
        ),
    ],
)
def test_a_parameter_outside_its_constraints_refuses_the_stack(
    sim_aws: SimAWS, slot: dict[str, Any], value: str, message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        create(role_template(READ_ANY, Hub={"Type": "String", **slot}), Hub=value)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == message
    assert boto3.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert boto3.client("iam").list_roles()["Roles"] == []


def test_a_parameter_within_its_constraints_is_accepted(sim_aws: SimAWS) -> None:
    slot = {"Type": "String", "AllowedPattern": "\\d{12}", "MinLength": 12, "MaxLength": 12}
    assert create(role_template(READ_ANY, Hub=slot), Hub="123456789012")["StackStatus"] == "CREATE_COMPLETE"


def test_no_echo_parameters_are_masked_in_describe_stacks(sim_aws: SimAWS) -> None:
    secret = {"Type": "String", "NoEcho": True}
    stack = create(role_template(READ_ANY, Secret=secret), Secret="hunter2-external-id", Name="visible")
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "Name": "visible",
        "Secret": "****",
    }
