"""ECR's registry scan type and Inspector's ECR scanning: one switch seen from two sides, as AWS documents it.

- Inspector's "Activating a scan type": activating Amazon ECR scanning changes the registry's scanning
  configuration from basic to enhanced. "Deactivating a scan type": deactivating it changes the registry from
  enhanced back to basic, and the findings it produced are lost.
- Inspector's "Amazon Inspector integration with Amazon ECR": the integration is activated from either side,
  through Inspector or by configuring enhanced scanning in ECR (ECR's IAM page for enhanced scanning asks the
  caller for inspector2:Enable and inspector2:Disable for that reason).

So here: PutRegistryScanningConfiguration ENHANCED starts Inspector's ECR activation, BASIC starts its
deactivation (whose end deletes the account's ECR findings and coverage, see `sim.inspector2`); and when
Inspector's ECR scanning settles, the registry follows: ENABLED makes a BASIC registry ENHANCED, DISABLED makes
an ENHANCED registry BASIC. moto keeps the configuration itself.

Not documented, so chosen here: the rules a flip from Inspector's side leaves. To ENHANCED: the rules ENHANCED
allows (continuous, on-push) are kept, MANUAL is dropped. To BASIC: no rules, ECR's default configuration.
"""

from __future__ import annotations

from typing import Any

from moto.ecr.models import ECRBackend, ecr_backends

from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.protocol import SimRequest, SimResponse

ENHANCED_FREQUENCIES = ("CONTINUOUS_SCAN", "SCAN_ON_PUSH")


class RegistryScanningSim:
    """Serves nothing itself: sees each PutRegistryScanningConfiguration on its way to moto, and moves the
    registry when Inspector's ECR scanning settles."""

    service = "ecr"
    operations = frozenset({"PutRegistryScanningConfiguration"})

    def __init__(self, inspector: Inspector2Sim) -> None:
        self._inspector = inspector
        inspector.on_ecr_settled(self._inspector_settled)

    def reset(self) -> None:
        """Nothing of its own to forget: moto and Inspector2Sim hold the state."""

    def handle(self, request: SimRequest) -> SimResponse | None:
        scan_type = request.json().get("scanType")
        if scan_type in ("BASIC", "ENHANCED"):
            # PutRegistryScanningConfiguration writes the caller's own registry (it takes no registryId).
            self._inspector.switch_ecr(request.region, request.account, enable=scan_type == "ENHANCED")
        return None  # moto stores the configuration as written

    @staticmethod
    def _inspector_settled(region: str, account: str, status: str) -> None:
        backend: ECRBackend = ecr_backends[account][region]
        config: dict[str, Any] = backend.get_registry_scanning_configuration()
        if status == "ENABLED" and config.get("scanType") != "ENHANCED":
            kept = [rule for rule in config.get("rules") or () if rule.get("scanFrequency") in ENHANCED_FREQUENCIES]
            backend.put_registry_scanning_configuration("ENHANCED", kept)
        elif status == "DISABLED" and config.get("scanType") == "ENHANCED":
            backend.put_registry_scanning_configuration("BASIC", [])
