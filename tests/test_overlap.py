"""check's stages overlap: Inspector is asked about digests while the inventory is still read, and
`--workers` bounds the requests in flight of all stages together."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ecrwatch.aws import Aws, InFlight
from ecrwatch.findings import FindingsLookup
from ecrwatch.models import ScannedImage
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def image(n: int) -> ScannedImage:
    return ScannedImage(ACCOUNT_ID, REGION, "team/api", digest(n))


@pytest.fixture
def inspector(sim_aws: SimAWS) -> Inspector2Sim:
    inspector = sim_aws.extension(Inspector2Sim)
    for n in range(20):
        inspector.add_finding(
            REGION, repository="team/api", digest=digest(n), vulnerability_id=f"CVE-1-{n}", severity="HIGH"
        )
    return inspector


def test_digests_asked_early_go_ten_a_request_and_only_the_scanned_ones_are_kept(
    sim_aws: SimAWS, inspector: Inspector2Sim
) -> None:
    with FindingsLookup(Aws(), workers=2) as lookup:
        lookup.ask(image(n) for n in range(12))  # ten go at once; two wait for more
        lookup.ask([image(3)])  # already asked: not again
        # What Inspector scans turned out to be 5..14 (0..4 were, say, multi-arch indexes).
        result = lookup.finish(image(n) for n in range(5, 15))
    assert sorted(f.vulnerability_id for f in result.findings) == sorted(f"CVE-1-{n}" for n in range(5, 15))
    batches = sorted(
        sorted(v["value"] for v in c.params["filterCriteria"]["ecrImageHash"])
        for c in sim_aws.calls.select("inspector2", "ListFindings")
    )
    # 0..9 early; then the two that waited (10, 11) with the three new ones (12..14): every digest asked once.
    assert batches == sorted([[digest(n) for n in range(10)], [digest(n) for n in range(10, 15)]])
    # Coverage goes with the findings, in the same batches: findings cannot say whether Inspector still
    # watches an image. Only the scanned images' records are kept.
    coverage_batches = sorted(
        sorted(v["value"].rsplit("/", 1)[1] for v in c.params["filterCriteria"]["resourceId"])
        for c in sim_aws.calls.select("inspector2", "ListCoverage")
    )
    assert coverage_batches == batches
    assert sorted(c.image.digest for c in result.coverage) == sorted(digest(n) for n in range(5, 15))


def test_coverage_is_kept_only_for_the_final_images_with_findings_or_without(
    sim_aws: SimAWS, inspector: Inspector2Sim
) -> None:
    inspector.set_coverage(REGION, repository="team/api", digest=digest(50))
    with FindingsLookup(Aws(), workers=2) as lookup:
        lookup.ask([image(50)])  # asked early, then not among the scanned images: its record is not kept
        result = lookup.finish([image(1), image(60)])
    assert [f.vulnerability_id for f in result.findings] == ["CVE-1-1"]
    (coverage,) = sim_aws.calls.select("inspector2", "ListCoverage")
    asked = sorted(v["value"].rsplit("/", 1)[1] for v in coverage.params["filterCriteria"]["resourceId"])
    assert asked == [digest(1), digest(50), digest(60)]  # one request: the early one had not filled a batch
    assert [c.image.digest for c in result.coverage] == [digest(1)]  # 60 has no record; 50 is not scanned


def _in_thread(work: Callable[[], object], timeout: float = 5.0) -> bool:
    """Run `work` in a new thread; whether it finished within `timeout`."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def test_no_more_requests_in_flight_than_the_limit() -> None:
    in_flight = InFlight()
    in_flight.limit(1)
    in_flight.before_send()  # this thread's request is in flight
    entered = threading.Event()

    def another() -> None:
        with in_flight.place():
            entered.set()

    waiter = threading.Thread(target=another, daemon=True)
    waiter.start()
    assert not entered.wait(0.3)  # no place for it while ours is out
    in_flight.received()
    assert entered.wait(5)
    waiter.join(5)


def test_a_thread_holds_one_place_and_gives_it_back_when_it_ends() -> None:
    in_flight = InFlight()
    in_flight.limit(1)

    def send_twice_and_end() -> None:
        in_flight.before_send()
        in_flight.before_send()  # a retry, or a parse error and the next request: still one place
        # ends without its answer parsed: the place must not be lost

    assert _in_thread(send_twice_and_end)
    assert _in_thread(in_flight.acquire)  # the place came back


def test_without_a_limit_nothing_waits() -> None:
    in_flight = InFlight()

    def many() -> None:
        for _ in range(100):
            in_flight.before_send()

    assert _in_thread(many)
