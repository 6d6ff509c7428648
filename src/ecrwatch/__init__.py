"""ecrwatch: Amazon Inspector findings that are live in running ECS tasks and Kubernetes pods."""

# The one place the version is written (pyproject.toml reads it from here). A literal, not
# importlib.metadata's lookup of the installed distribution, which took 34 ms of every command's start.
__version__ = "0.1.0"
