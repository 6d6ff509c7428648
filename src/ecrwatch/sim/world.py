"""Assembles the simulated AWS endpoint with every extension of ours registered."""

from __future__ import annotations

from ecrwatch.sim.ecr import EcrSim
from ecrwatch.sim.ecs import EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import SimAWS


def build_sim_aws() -> SimAWS:
    """A SimAWS (not yet started) with our service extensions registered."""
    return SimAWS(extensions=[EcrSim(), Inspector2Sim(), EcsSim(), EksSim()])
