"""CloudFormation: moto's, with the corrections of ecrwatch.sim.cloudformation_moto applied before the first
request that could meet them. Every request then goes on to moto."""

from __future__ import annotations

import threading

from ecrwatch.sim.protocol import SimRequest, SimResponse

# The operations that parse a template, create a stack or show one; any of them may be the first.
STACK_OPERATIONS = frozenset(
    {
        "CreateChangeSet",
        "CreateStack",
        "CreateStackInstances",
        "CreateStackSet",
        "DescribeStacks",
        "ExecuteChangeSet",
        "UpdateStack",
        "UpdateStackInstances",
        "UpdateStackSet",
        "ValidateTemplate",
    }
)


class CloudFormationSim:
    service = "cloudformation"
    operations = STACK_OPERATIONS

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._installed = False

    def reset(self) -> None:
        """Nothing of ours to forget: the corrections stay, moto's stacks are reset by moto."""

    def handle(self, request: SimRequest) -> SimResponse | None:
        with self._lock:
            if not self._installed:
                from ecrwatch.sim import cloudformation_moto  # heavy: see its docstring

                cloudformation_moto.install()
                self._installed = True
        return None
