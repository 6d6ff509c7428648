"""ecrwatch: Amazon Inspector findings that are live in running ECS tasks and Kubernetes pods."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecrwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
