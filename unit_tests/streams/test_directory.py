"""The directory lists (agents, groups, channels, roles): paged to the end through relative links."""

import pytest

from ..conftest import API, envelope, query_of, records_of, run_read


@pytest.mark.parametrize("stream", ["agents", "groups", "channels", "roles"])
def test_directory_lists_follow_relative_links_until_next_page_is_absent(requests_mock, stream):
    second = f"/v2/{stream}?page=2&items_per_page=50&sort_order=asc"
    requests_mock.get(
        f"{API}/{stream}",
        [
            {"json": envelope(stream, [{"id": "1"}, {"id": "2"}], next_href=second)},
            {"json": envelope(stream, [{"id": "3"}])},
        ],
    )
    output = run_read([stream])
    assert [r["id"] for r in records_of(output, stream)] == ["1", "2", "3"]
    assert [query_of(r) for r in requests_mock.request_history] == [
        {"page": "1", "items_per_page": "50", "sort_order": "asc"},
        {"page": "2", "items_per_page": "50", "sort_order": "asc"},
    ]
