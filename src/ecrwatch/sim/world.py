"""Assembles the simulated AWS endpoint with every extension of ours registered."""

from __future__ import annotations

from ecrwatch.sim.accounts import StsSim
from ecrwatch.sim.cloudformation import CloudFormationSim
from ecrwatch.sim.ecr import EcrSim
from ecrwatch.sim.ecs import EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.registry_scanning import RegistryScanningSim
from ecrwatch.sim.server import SimAWS, SimService


def sim_extensions() -> list[SimService]:
    """A fresh set of our extensions, Inspector's ECR scanning and the registry's scan type linked."""
    inspector = Inspector2Sim()
    return [EcrSim(), inspector, RegistryScanningSim(inspector), EcsSim(), EksSim(), CloudFormationSim(), StsSim()]


def build_sim_aws() -> SimAWS:
    """A SimAWS (not yet started) with our service extensions registered."""
    return SimAWS(extensions=sim_extensions())
