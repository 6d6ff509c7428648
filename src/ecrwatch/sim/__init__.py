"""Simulated AWS and Kubernetes services for `ecrwatch demo`, the tests and the benchmarks.

moto serves most of AWS; where moto is thin (Inspector2 findings and coverage, ECS task detail, EKS
endpoints) our own stores answer, built from botocore's service models. Everything is reached over real
HTTP on 127.0.0.1, exactly as ecrwatch reaches AWS.
"""
