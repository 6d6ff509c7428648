"""botocore's data files are read once per process, and a data path (AWS_DATA_PATH, a profile's data_path)
still comes first: a user's own copy of a service model or of the endpoint data is the one used."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest

from ecrwatch.aws import Aws
from ecrwatch.botocore_data import share_loader


def test_sessions_of_one_data_path_share_one_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    first, second = botocore.session.get_session(), botocore.session.get_session()
    share_loader(first)
    share_loader(second)
    assert first.get_component("data_loader") is second.get_component("data_loader")


def test_the_data_path_of_the_environment_is_searched_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An endpoint file of one's own lists a region botocore's does not: the command's session sees it.
    endpoints = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    aws_partition = next(p for p in endpoints["partitions"] if p["partition"] == "aws")
    aws_partition["services"]["api.ecr"]["endpoints"]["xx-test-1"] = {"hostname": "api.ecr.xx-test-1.example"}
    aws_partition["regions"]["xx-test-1"] = {"description": "a region of this test"}
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    assert "xx-test-1" in Aws().available_regions
    monkeypatch.delenv("AWS_DATA_PATH")
    assert "xx-test-1" not in Aws().available_regions
