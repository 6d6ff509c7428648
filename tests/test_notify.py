"""Notifications: what is said (the text, the parts), where it may go (https, SNS ARNs), how webhook URLs are
hidden, and how a webhook delivery behaves against a real HTTP server on loopback (retries, redirects, errors)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecrwatch.errors import UsageError
from ecrwatch.models import Report, SourceError
from ecrwatch.notify import (
    SNS_MESSAGE_LIMIT,
    Notifications,
    SnsTopic,
    Webhook,
    notify,
    payload_parts,
    redact_url,
    slack_escape,
    summary_text,
)
from ecrwatch.report.json import exposure_to_dict, image_entry_to_dict
from factories import (
    digest,
    ecr_uri,
    ecs_workload,
    empty_report,
    finding,
    image_entry,
    image_info,
    make_report,
    matched,
    sample_report,
)


def report_with(images: int, exposures: int, workloads: int, *, title: int = 40) -> Report:
    """`images` images, each with `exposures` findings and `workloads` ECS services running it."""
    parts = []
    for i in range(images):
        info = image_info(f"team/app{i}", digest(f"app{i}"))
        running = [
            matched(
                ecs_workload(
                    image_reference=ecr_uri(f"team/app{i}", tag="v1"), running_digest=info.digest, service=f"s{i}-{w}"
                ),
                "digest",
            )
            for w in range(workloads)
        ]
        findings = [finding(f"CVE-2025-{i:03d}{x:04d}", "HIGH", info, title="t" * title) for x in range(exposures)]
        parts.append((image_entry(info, running, findings), findings))
    return make_report(images=parts)


# --- where -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T00/B00/XXXX", "https://hooks.slack.com/…"),
        ("https://user:password@example.com/hook?token=abc", "https://example.com/…"),
        ("https://example.com", "https://example.com"),
        ("https://example.com/?k=v", "https://example.com/…"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/…"),
        ("http://[::1]:9000/x", "http://[::1]:9000/…"),
    ],
)
def test_a_webhook_url_is_shown_without_its_secret_parts(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://127.0.0.1:1/x", "http://localhost/x", "http://[::1]/x"]
)
def test_https_webhooks_and_plain_http_on_loopback_are_accepted(url: str) -> None:
    assert Webhook.parse(url).url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/services/secret",
        "http://10.0.0.1/secret",
        "ftp://example.com/secret",
        "not a url/secret",
    ],
)
def test_other_webhooks_are_refused_without_showing_their_secret(url: str) -> None:
    with pytest.raises(UsageError) as raised:
        Webhook.parse(url)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("arn", "region"),
    [
        ("arn:aws:sns:us-east-1:123456789012:alerts", "us-east-1"),
        ("arn:aws-cn:sns:cn-north-1:123456789012:alerts", "cn-north-1"),
        ("arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts.fifo", "us-gov-west-1"),
    ],
)
def test_sns_topics_are_published_to_in_their_own_region(arn: str, region: str) -> None:
    assert SnsTopic.parse(arn).region == region


@pytest.mark.parametrize("arn", ["alerts", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sns:us-east-1:1234:alerts"])
def test_what_is_not_a_topic_arn_is_refused(arn: str) -> None:
    with pytest.raises(UsageError):
        SnsTopic.parse(arn)


# --- what is said ------------------------------------------------------------------------------------------


def test_slack_control_characters_are_escaped() -> None:
    assert slack_escape("a <b> & <!channel>") == "a &lt;b&gt; &amp; &lt;!channel&gt;"


def test_the_text_counts_lists_the_worst_and_says_what_could_not_be_read() -> None:
    report = sample_report()
    text = summary_text(report)
    first, *rest = text.splitlines()
    assert first.startswith(f"ecrwatch: {len(report.exposures)} exposures in running containers (")
    assert rest[0].startswith(
        f"- {report.exposures[0].finding.severity} {report.exposures[0].finding.vulnerability_id}"
    )
    assert rest[-1].startswith(f"Incomplete: {len(report.errors)} source(s) could not be read")


def test_the_text_lists_five_and_counts_the_rest_and_marks_new_ones_when_some_are_old() -> None:
    report = report_with(1, 8, 1)
    report = replace(report, exposures=tuple(replace(e, new=i == 7) for i, e in enumerate(report.exposures)))
    lines = summary_text(report).splitlines()
    assert len([line for line in lines if line.startswith("- ")]) == 5
    assert "... and 3 more" in lines
    assert "new exposures" not in lines[0]
    all_new = replace(report, exposures=tuple(replace(e, new=True) for e in report.exposures))
    assert summary_text(all_new).startswith("ecrwatch: 8 new exposures") and "(new)" not in summary_text(all_new)


def test_the_text_says_how_many_running_images_inspector_no_longer_rescans() -> None:
    report = sample_report()
    assert "Not monitored" not in summary_text(report)
    lapsed = replace(report, summary=replace(report.summary, not_monitored_running_images=2))
    lines = summary_text(lapsed).splitlines()
    assert (
        "Not monitored: Inspector no longer rescans 2 running images: new vulnerabilities in them go unreported "
        "(see scan_status and unscanned in the report)"
    ) in lines
    assert lines[-1].startswith("Incomplete:")  # what could not be read stays last


def _check_parts(report: Report, parts: list[dict[str, Any]], limit: int) -> None:
    total = len(parts)
    assert [p["part"] for p in parts] == [f"{i}/{total}" for i in range(1, total + 1)]
    sent = [x["finding_arn"] for p in parts for x in p["exposures"]]
    assert sorted(sent) == sorted(e.finding.finding_arn for e in report.exposures)  # each once
    for p in parts:
        assert len(json.dumps(p, separators=(",", ":")).encode()) <= limit
        entries = {e["image"]["digest"]: e for e in p["images"]}
        assert all(x["image"]["digest"] in entries for x in p["exposures"])
        assert all(e["workloads"] for e in entries.values())
    for entry in report.images:
        seen = {
            w["service"]
            for p in parts
            for e in p["images"]
            if e["image"]["digest"] == entry.image.digest
            for w in e["workloads"]
        }
        assert seen == {m.workload.service for m in entry.workloads}  # every workload, somewhere
        # Where the whole entry fits in a part beside its largest exposure, every part reporting one of its
        # exposures names every workload that runs it.
        compact = {"separators": (",", ":")}
        largest = max(
            len(json.dumps(exposure_to_dict(e), **compact).encode()) for e in report.exposures if e.image == entry.image
        )
        # A part's budget keeps room for the longest label a part can carry ("TEXT (part 99999/99999)"), not the
        # label this part happens to have: a part is packed before the number of parts is known.
        text = f"{parts[0]['text'].split(' (part ')[0]} (part 99999/99999)"
        empty = {**parts[0], "text": text, "part": "99999/99999", "exposures": [], "images": []}
        envelope = len(json.dumps(empty, **compact).encode())
        if envelope + len(json.dumps(image_entry_to_dict(entry), **compact).encode()) + largest + 8 <= limit:
            for p in parts:
                if any(x["image"]["digest"] == entry.image.digest for x in p["exposures"]):
                    (shown,) = [e for e in p["images"] if e["image"]["digest"] == entry.image.digest]
                    assert len(shown["workloads"]) == len(entry.workloads)


def test_a_small_report_is_one_part_with_everything() -> None:
    report = sample_report()
    (part,) = payload_parts(report, "hello", 256 * 1024)
    assert part["text"] == "hello" and part["part"] == "1/1"
    assert len(part["exposures"]) == len(report.exposures) and len(part["images"]) == len(report.images)
    assert len(part["errors"]) == len(report.errors)


def test_many_exposures_and_workloads_split_into_self_contained_parts() -> None:
    report = report_with(3, 40, 60)
    parts = payload_parts(report, "summary", 16 * 1024)
    assert len(parts) > 3
    assert all(p["text"] == f"summary (part {p['part']})" for p in parts)
    _check_parts(report, parts, 16 * 1024)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12), st.integers(3, 24))
def test_any_report_splits_within_the_limit(images: int, exposures: int, workloads: int, kib: int) -> None:
    report = report_with(images, exposures, workloads, title=200)
    _check_parts(report, payload_parts(report, "s", kib * 1024), kib * 1024)


def _workloads_beside_exposures(parts: list[dict[str, Any]]) -> list[tuple[int, set[str]]]:
    """For each part, per image it reports an exposure of: (its exposures there, the services it names)."""
    found = []
    for p in parts:
        entries = {e["image"]["digest"]: e for e in p["images"]}
        for image_digest in dict.fromkeys(x["image"]["digest"] for x in p["exposures"]):
            count = sum(1 for x in p["exposures"] if x["image"]["digest"] == image_digest)
            found.append((count, {w["service"] for w in entries[image_digest]["workloads"]}))
    return found


def test_a_large_alert_names_every_task_beside_each_exposure_in_every_part() -> None:
    # One image run by three services, with more findings than one SNS message holds.
    report = report_with(1, 400, 3, title=900)
    parts = payload_parts(report, "summary", SNS_MESSAGE_LIMIT)
    assert len(parts) >= 2
    _check_parts(report, parts, SNS_MESSAGE_LIMIT)
    beside = _workloads_beside_exposures(parts)
    assert sum(count for count, _ in beside) == 400
    assert all(services == {"s0-0", "s0-1", "s0-2"} for _, services in beside)


def test_images_that_fit_go_whole_into_a_part_rather_than_split_over_two() -> None:
    report = report_with(6, 30, 20, title=400)  # each image about a third of a part
    parts = payload_parts(report, "summary", 48 * 1024)
    _check_parts(report, parts, 48 * 1024)
    every = {f"s{i}-{w}" for i in range(6) for w in range(20)}
    for _, services in _workloads_beside_exposures(parts):
        assert len(services) == 20 and services <= every
    assert sorted(count for count, _ in _workloads_beside_exposures(parts)) == [30] * 6  # never split


def test_only_workloads_that_overflow_a_part_on_their_own_are_spread() -> None:
    report = report_with(1, 5, 400)  # 400 services: more than a 16 KiB part holds
    parts = payload_parts(report, "summary", 16 * 1024)
    _check_parts(report, parts, 16 * 1024)  # every workload somewhere, every exposure beside its image
    assert len(parts) > 1


def test_a_clean_but_incomplete_run_still_has_one_part_with_its_errors() -> None:
    report = empty_report(errors=[SourceError("ecs:us-east-1/prod", "denied", "AccessDeniedException")])
    (part,) = payload_parts(report, "t", 1024)
    assert part["exposures"] == [] and part["images"] == [] and part["errors"][0]["source"] == "ecs:us-east-1/prod"


# --- delivery ----------------------------------------------------------------------------------------------


class Hook:
    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    box = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            box.received.append(json.loads(body))
            box.headers.append(dict(self.headers))
            status = box.answers.pop(0) if box.answers else 204
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield box, f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token"
    server.shutdown()
    server.server_close()


def test_a_webhook_that_fails_for_a_moment_is_tried_again(hook: tuple[Hook, str]) -> None:
    box, url = hook
    box.answers = [503, 500]
    errors = notify(None, sample_report(), Notifications.parse([url]), retry_delays=(0, 0))
    assert errors == ()
    assert len(box.received) == 3 and box.received[0] == box.received[2]
    assert box.headers[0]["Content-Type"] == "application/json"


def test_a_webhook_that_refuses_is_not_tried_again_and_is_an_error(hook: tuple[Hook, str]) -> None:
    box, url = hook
    box.answers = [400]
    (error,) = notify(None, sample_report(), Notifications.parse([url]), retry_delays=(0, 0))
    assert len(box.received) == 1
    assert (error.source, error.code) == ("notify:webhook", "400")
    assert "secret-token" not in error.message and "/…" in error.message


def test_a_redirecting_webhook_is_not_followed(hook: tuple[Hook, str]) -> None:
    box, url = hook
    box.answers = [302]
    (error,) = notify(None, sample_report(), Notifications.parse([url]), retry_delays=())
    assert error.code == "302" and len(box.received) == 1


def test_a_webhook_nobody_listens_on_is_an_error_without_its_secret() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/secret-token?key=k"
    (error,) = notify(None, sample_report(), Notifications.parse([url], timeout=2), retry_delays=(0,))
    assert error.source == "notify:webhook" and "could not be reached" in error.message
    assert "secret-token" not in error.message and "key=k" not in error.message


def test_nothing_is_sent_when_there_is_nothing_to_say(hook: tuple[Hook, str]) -> None:
    box, url = hook
    assert notify(None, empty_report(), Notifications.parse([url])) == ()
    assert box.received == []


def test_the_webhook_text_is_escaped_for_slack(hook: tuple[Hook, str]) -> None:
    box, url = hook
    report = sample_report()
    failing = (*report.errors, SourceError("kube-context:<dev&test>", "unreachable", None))
    notify(None, replace(report, errors=failing), Notifications.parse([url]))
    (body,) = box.received
    assert "&lt;dev&amp;test&gt;" in body["text"] and "<dev" not in body["text"]
