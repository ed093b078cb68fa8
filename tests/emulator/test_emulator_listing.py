"""GET /runs and GET /flows: property filters, orderby, limit and relative next links."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID, SEEDED_FLOW_IDS


def _ids(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def _follow_pages(client, first_path: str, params=None) -> tuple[list[str], list[str]]:
    """All ids across pages, following ``_links.next.href`` relative to the Flow Service base."""
    answer = client.request("GET", first_path, params=params)
    ids, hrefs = _ids(answer), []
    while answer.json()["_links"]:
        href = answer.json()["_links"]["next"]["href"]
        hrefs.append(href)
        answer = client.request("GET", href)
        ids += _ids(answer)
    return ids, hrefs


@pytest.fixture
def three_flows_runs(client) -> dict[str, list[str]]:
    """Two file-flow runs, one row-errors run, one failing run (created in this order)."""
    created = {
        FILE_FLOW_ID: [client.run_id(FILE_FLOW_ID, (0, 900)), client.run_id(FILE_FLOW_ID, (900, 1800))],
        ROW_ERRORS_FLOW_ID: [client.run_id(ROW_ERRORS_FLOW_ID)],
        FAILING_FLOW_ID: [client.run_id(FAILING_FLOW_ID)],
    }
    return created


def test_flow_id_filter_returns_only_that_flows_runs(client, three_flows_runs):
    ids = _ids(client.request("GET", f"/runs?property=flowId=={FILE_FLOW_ID}"))

    assert sorted(ids) == sorted(three_flows_runs[FILE_FLOW_ID])


def test_equality_with_comma_separated_values_means_any_of(client, three_flows_runs):
    wanted = [three_flows_runs[FILE_FLOW_ID][0], three_flows_runs[FAILING_FLOW_ID][0], "not-a-run"]

    ids = _ids(client.request("GET", "/runs", params={"property": f"id=={','.join(wanted)}"}))

    assert sorted(ids) == sorted(wanted[:2])


def test_repeated_property_filters_are_anded(client, three_flows_runs):
    flows = f"flowId=={FILE_FLOW_ID},{ROW_ERRORS_FLOW_ID}"
    ids = _ids(client.request("GET", "/runs", params=[("property", flows), ("property", "params.windowStartTime<900")]))

    assert ids == [three_flows_runs[FILE_FLOW_ID][0]]


def test_greater_than_compares_numbers_not_strings(client, three_flows_runs):
    ids = _ids(client.request("GET", "/runs", params={"property": "params.windowEndTime>1000"}))

    expected = [three_flows_runs[FILE_FLOW_ID][1], *three_flows_runs[ROW_ERRORS_FLOW_ID]]
    assert sorted(ids) == sorted(expected + three_flows_runs[FAILING_FLOW_ID])


def test_created_at_bounds_select_runs_by_creation_time(client):
    older = client.get_run(client.run_id(FILE_FLOW_ID))
    time.sleep(0.02)
    newer = client.get_run(client.run_id(FILE_FLOW_ID))

    before = _ids(client.request("GET", "/runs", params={"property": f"createdAt<{newer['createdAt']}"}))
    after = _ids(client.request("GET", "/runs", params={"property": f"createdAt>{older['createdAt']}"}))

    assert (before, after) == ([older["id"]], [newer["id"]])


def test_dotted_status_filter_finds_failed_runs_case_insensitively(client, three_flows_runs):
    failing_run = three_flows_runs[FAILING_FLOW_ID][0]
    client.wait_for_status(failing_run, {"failed"})

    failed = _ids(client.request("GET", "/runs?property=metrics.statusSummary.status==Failed"))
    succeeded = _ids(client.request("GET", "/runs?property=metrics.statusSummary.status==success"))

    assert failed == [failing_run]
    assert len(succeeded) == 3


def test_malformed_filter_limit_and_orderby_answer_400(client):
    for query in ("property=flowId", "limit=zero", "limit=0", "orderby=name", "continuationToken=%%%"):
        answer = client.request("GET", f"/runs?{query}")
        assert answer.status_code == 400, query
        assert client.error_code(answer) == "FLOW-1384-400"


def test_paging_across_250_runs_follows_relative_next_links(client):
    created = [client.run_id(FILE_FLOW_ID, (index * 900, index * 900 + 900)) for index in range(250)]
    client.run_id(FAILING_FLOW_ID)

    ids, hrefs = _follow_pages(client, "/runs", {"property": f"flowId=={FILE_FLOW_ID}", "limit": "100"})

    assert ids == list(reversed(created))
    assert len(hrefs) == 2
    for href in hrefs:
        assert href.startswith("/runs?continuationToken=")
        query = parse_qs(urlsplit(href).query)
        assert query["property"] == [f"flowId=={FILE_FLOW_ID}"]
        assert query["limit"] == ["100"]


def test_default_page_is_100_items_and_orderby_created_at_is_oldest_first(client):
    created = [client.run_id(FILE_FLOW_ID, (index * 900, index * 900 + 900)) for index in range(120)]

    first = client.request("GET", "/runs")
    ascending, _ = _follow_pages(client, "/runs", {"orderby": "createdAt", "limit": "1000"})

    assert len(first.json()["items"]) == 100
    assert first.json()["_links"]["next"]["href"].startswith("/runs?continuationToken=")
    assert ascending == created


def test_continuation_token_alone_keeps_filters_and_order(client):
    for index in range(5):
        client.run_id(FILE_FLOW_ID, (index * 900, index * 900 + 900))
    client.run_id(FAILING_FLOW_ID)
    first = client.request("GET", "/runs", params={"property": f"flowId=={FILE_FLOW_ID}", "limit": "2"})
    token = parse_qs(urlsplit(first.json()["_links"]["next"]["href"]).query)["continuationToken"][0]

    rest, _ = _follow_pages(client, "/runs", {"continuationToken": token})

    assert len(rest) == 3
    assert all(client.get_run(run_id)["flowId"] == FILE_FLOW_ID for run_id in rest)
    assert not set(rest) & set(_ids(first))


def test_runs_created_between_pages_do_not_shift_the_next_page(client):
    created = [client.run_id(FILE_FLOW_ID, (index * 900, index * 900 + 900)) for index in range(4)]
    first = client.request("GET", "/runs?limit=2")
    client.run_id(FILE_FLOW_ID, (9000, 9900))

    second = client.request("GET", first.json()["_links"]["next"]["href"])

    assert _ids(first) + _ids(second) == list(reversed(created))
    assert second.json()["_links"] == {}


def test_flows_are_listed_and_paged(client):
    ids, hrefs = _follow_pages(client, "/flows", {"limit": "3"})

    assert ids == list(SEEDED_FLOW_IDS.values())[::-1]
    assert [href.startswith("/flows?continuationToken=") for href in hrefs] == [True, True]


def test_flows_can_be_filtered_by_state(client):
    ids = _ids(client.request("GET", "/flows?property=state==disabled"))

    assert ids == [SEEDED_FLOW_IDS["disabled"]]


def test_id_filter_reads_a_hundred_runs_in_one_call(emu, client):
    created = [client.run_id(FILE_FLOW_ID, (index * 900, index * 900 + 900)) for index in range(100)]

    answer = client.request("GET", "/runs", params={"property": f"id=={','.join(created)}"})

    assert sorted(_ids(answer)) == sorted(created)
    assert answer.json()["_links"] == {}
    assert emu.stats()["requests_by_route"]["GET /runs"] == 1


def test_filters_on_any_run_field_such_as_metrics(client):
    with_files = client.run_id(FILE_FLOW_ID, (0, 900))
    empty = client.run_id(FILE_FLOW_ID, (1, 899))
    for run_id in (with_files, empty):
        client.wait_for_status(run_id, {"success"})

    ids = _ids(client.request("GET", "/runs?property=metrics.fileSummary.inputFileCount>0"))

    assert ids == [with_files]


def test_count_true_answers_the_number_of_matching_items(client, three_flows_runs):
    counted = client.request("GET", "/runs", params={"property": f"flowId=={FILE_FLOW_ID}", "count": "true"})
    flows = client.request("GET", "/flows", params={"count": "true"})

    assert counted.json() == {"count": 2}
    assert flows.json() == {"count": len(SEEDED_FLOW_IDS)}
    assert "items" in client.request("GET", "/runs", params={"count": "false"}).json()
    assert client.error_code(client.request("GET", "/runs", params={"count": "maybe"})) == "FLOW-1384-400"


def test_limit_together_with_count_answers_1401(client):
    answer = client.request("GET", "/runs", params={"count": "true", "limit": 5})

    assert answer.status_code == 400
    assert client.error_code(answer) == "FLOW-1401-400"
    assert "limit and count" in answer.json()["errorMessage"]
