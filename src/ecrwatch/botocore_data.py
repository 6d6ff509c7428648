"""botocore's data files (endpoint data, service models), read once per process and shared by its sessions.

Every botocore session reads them again through a loader of its own: the endpoint data alone took 30-45 ms to
load and each service model 15-18 ms (gzip and JSON). `--region` is checked against the endpoint data before
a command makes its session, and an organisation's accounts each have a session: with one loader per data
path they are read once.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


@functools.cache
def loader(data_path: str | None) -> botocore.loaders.Loader:
    """The loader for botocore's data with `data_path` (AWS_DATA_PATH, or a profile's data_path) searched first."""
    return botocore.loaders.create_loader(data_path)


def share_loader(session: botocore.session.Session) -> None:
    """`session` reads botocore's data through the process's loader for its data path."""
    session.register_component("data_loader", loader(session.get_config_variable("data_path")))
