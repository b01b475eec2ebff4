"""Retries, rate limits, bad bodies and auth failures: each path is a named test."""

import logging
import threading

import pytest
import requests
from airbyte_cdk.models import AirbyteStreamStatus, FailureType, Status
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction

from source_freshchat import errors
from source_freshchat.errors import RESPONSE_BODY_LOG_FILTER, FreshchatErrorHandler, json_body
from source_freshchat.rate_limit import FreshchatBackoffStrategy, seconds_until_retry

from .conftest import API, API_KEY, CONFIG, envelope, full_output, records_of, run_check, run_read

HTML = "<html><head><title>Log in</title></head><body>Freshworks</body></html>"


def response_with(status, headers):
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


def test_retry_after_seconds_wins_over_reset():
    assert seconds_until_retry(response_with(429, {"Retry-After": "7", "X-RateLimit-Reset": "1000"}), now=900) == 7


def test_retry_after_as_http_date():
    assert seconds_until_retry(response_with(429, {"Retry-After": "Thu, 01 Jan 1970 00:16:40 GMT"}), now=990) == 10


def test_rate_limit_reset_is_used_without_retry_after():
    assert seconds_until_retry(response_with(429, {"X-RateLimit-Reset": "1030"}), now=1000) == 30


def test_no_advice_means_exponential_backoff():
    strategy = FreshchatBackoffStrategy()
    assert [strategy.backoff_time(response_with(429, {}), attempt) for attempt in (1, 2, 3)] == [1, 2, 4]


def test_other_retries_keep_the_cdks_backoff():
    assert FreshchatBackoffStrategy().backoff_time(response_with(503, {}), 3) is None
    assert FreshchatBackoffStrategy().backoff_time(requests.exceptions.ReadTimeout("slow"), 1) is None


def test_a_zero_wait_still_waits_a_little():
    assert FreshchatBackoffStrategy().backoff_time(response_with(429, {"Retry-After": "0"}), 1) > 0


def test_429_with_retry_after_is_waited_out_then_retried(requests_mock, no_sleep):
    requests_mock.get(
        f"{API}/roles",
        [
            {
                "status_code": 429,
                "headers": {"Retry-After": "3"},
                "json": {"code": 429, "status": "TOO_MANY_REQUESTS", "message": "slow down"},
            },
            {"json": envelope("roles", [{"id": "r1"}])},
        ],
    )
    output = run_read(["roles"])
    assert [r["id"] for r in records_of(output, "roles")] == ["r1"]
    assert requests_mock.call_count == 2
    waits = [call.args[0] for call in no_sleep.call_args_list]
    assert 4 in waits  # 3 s asked + the CDK's extra second


def test_server_errors_and_bad_bodies_are_retried(requests_mock):
    requests_mock.get(
        f"{API}/groups",
        [
            {"status_code": 500, "json": {"code": 500, "status": "INTERNAL_ERROR", "message": "oops"}},
            {"status_code": 503, "text": "Service Unavailable"},
            {"status_code": 200, "text": HTML, "headers": {"Content-Type": "text/html"}},
            {"status_code": 200, "text": '{"groups": [{"id": "g1"}, {"id": ', "headers": {"Content-Type": "application/json"}},
            {"exc": requests.exceptions.ConnectionError("connection reset by peer")},
            {"exc": requests.exceptions.ReadTimeout("read timed out")},
            {"json": envelope("groups", [{"id": "g1"}])},
        ],
    )
    output = run_read(["groups"])
    assert [r["id"] for r in records_of(output, "groups")] == ["g1"]
    assert requests_mock.call_count == 7  # six failures fit in the retry budget
    assert not output.errors
    logs = full_output(output)
    assert logs.count("Status code: 200; the response body is not logged") == 2  # the HTML page and the cut-off JSON
    assert "Freshworks" not in logs and "Response Content" not in logs


def test_retries_exhausted_fail_with_status_and_path(requests_mock):
    requests_mock.get(f"{API}/channels", status_code=502, text="Bad Gateway")
    output = run_read(["channels"])
    assert requests_mock.call_count == 7  # first try + 6 retries
    message = output.errors[0].trace.error.message
    assert "HTTP 502" in message and "GET /v2/channels" in message


def test_html_that_never_turns_into_json_fails_with_a_domain_hint(requests_mock):
    requests_mock.get(f"{API}/agents", text=HTML, headers={"Content-Type": "text/html; charset=utf-8"})
    output = run_read(["agents"])
    message = output.errors[0].trace.error.message
    assert "not JSON (an HTML page)" in message and "`domain`" in message


def test_401_during_a_read_is_a_config_error_without_retries(requests_mock):
    requests_mock.get(f"{API}/agents", status_code=401, json={"code": 401, "status": "UNAUTHORIZED", "message": "invalid token"})
    output = run_read(["agents"])
    assert requests_mock.call_count == 1
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error"
    assert "rejected the API key" in error.message


def test_403_names_domain_region_and_scope(requests_mock):
    requests_mock.get(f"{API}/agents", status_code=403, json={"code": 403, "status": "FORBIDDEN", "message": "Auth failure"})
    output = run_read(["agents"])
    assert requests_mock.call_count == 1
    message = output.errors[0].trace.error.message
    assert "Auth failure" in message and "datacenter" in message and "scope" in message


def check_status(output):
    [status] = output.connection_status_messages
    return status.connectionStatus


def test_check_succeeds_with_a_good_key(requests_mock, tmp_path):
    requests_mock.get(f"{API}/accounts/configuration", json={"account_id": "1"})
    assert check_status(run_check(CONFIG, tmp_path)).status == Status.SUCCEEDED


def test_check_reports_a_wrong_key(requests_mock, tmp_path):
    requests_mock.get(f"{API}/accounts/configuration", status_code=401, json={"code": 401, "status": "UNAUTHORIZED", "message": "bad"})
    status = check_status(run_check(CONFIG, tmp_path))
    assert status.status == Status.FAILED and "rejected the API key" in status.message


def test_check_reports_the_wrong_datacenter(requests_mock, tmp_path):
    requests_mock.get(
        f"{API}/accounts/configuration", status_code=403, json={"code": 403, "status": "FORBIDDEN", "message": "Auth failure"}
    )
    status = check_status(run_check(CONFIG, tmp_path))
    assert status.status == Status.FAILED and "Either `domain` points at the wrong account or datacenter" in status.message


def test_check_reports_a_host_answering_html(requests_mock, tmp_path):
    requests_mock.get(f"{API}/accounts/configuration", text=HTML, headers={"Content-Type": "text/html"})
    status = check_status(run_check(CONFIG, tmp_path))
    assert status.status == Status.FAILED and "not JSON (an HTML page)" in status.message
    assert requests_mock.call_count == 3  # check gives up after two retries


def test_check_reports_an_unreachable_host(requests_mock, tmp_path):
    requests_mock.get(f"{API}/accounts/configuration", exc=requests.exceptions.ConnectionError("Name or service not known"))
    status = check_status(run_check(CONFIG, tmp_path))
    assert status.status == Status.FAILED and "Could not read the Freshchat account at https://acme.freshchat.com" in status.message


def test_check_reports_a_malformed_start_date_before_any_request(requests_mock, tmp_path):
    status = check_status(run_check({**CONFIG, "start_date": "31/12/2024"}, tmp_path))
    assert status.status == Status.FAILED and "start_date" in status.message
    assert requests_mock.call_count == 0


def test_the_api_key_never_appears_in_any_output(requests_mock, tmp_path):
    requests_mock.get(f"{API}/accounts/configuration", status_code=401, json={"code": 401, "message": f"token {API_KEY} is invalid"})
    requests_mock.get(f"{API}/agents", status_code=500, json={"message": f"echo {API_KEY}"})
    outputs = [
        run_check({**CONFIG, "api_key": f"Bearer {API_KEY}"}, tmp_path),
        run_read(["account", "agents"], config={**CONFIG, "api_key": f"Bearer {API_KEY}"}),
    ]
    for output in outputs:
        assert API_KEY not in full_output(output)


def test_every_request_has_a_timeout_and_a_hung_one_is_retried(requests_mock):
    requests_mock.get(
        f"{API}/roles", [{"exc": requests.exceptions.ReadTimeout("read timed out")}, {"json": envelope("roles", [{"id": "r1"}])}]
    )
    output = run_read(["roles"])
    assert [r["id"] for r in records_of(output, "roles")] == ["r1"]
    assert all(request.timeout == (10, 60) for request in requests_mock.request_history)


def test_a_config_error_stops_the_sync_instead_of_failing_every_stream_alike(requests_mock):
    requests_mock.get(f"{API}/agents", status_code=401, json={"code": 401, "status": "UNAUTHORIZED", "message": "invalid token"})
    groups = requests_mock.get(f"{API}/groups", json=envelope("groups", [{"id": "g1"}]))
    output = run_read(["agents", "groups"])
    assert groups.call_count == 0
    assert "rejected the API key" in output.errors[0].trace.error.message


def test_a_403_fails_only_its_stream_names_it_and_the_sync_still_ends_failed(requests_mock):
    requests_mock.get(f"{API}/agents", status_code=403, json={"code": 403, "status": "FORBIDDEN", "message": "Access denied"})
    requests_mock.get(f"{API}/groups", json=envelope("groups", [{"id": "g1"}]))
    requests_mock.get(f"{API}/roles", json=envelope("roles", [{"id": "r1"}]))
    output = run_read(["agents", "groups", "roles"])
    assert [r["id"] for r in records_of(output, "groups")] == ["g1"] and [r["id"] for r in records_of(output, "roles")] == ["r1"]
    assert output.get_stream_statuses("agents")[-1] == AirbyteStreamStatus.INCOMPLETE
    assert output.get_stream_statuses("roles")[-1] == AirbyteStreamStatus.COMPLETE
    [stream_error, sync_error] = [message.trace.error for message in output.errors]
    assert stream_error.stream_descriptor.name == "agents" and stream_error.failure_type.value == "config_error"
    assert "`agents` stream" in stream_error.message and "GET /v2/agents" in stream_error.message
    assert "scope" in stream_error.message and "plan" in stream_error.message and "Access denied" in stream_error.message
    assert "403" in stream_error.internal_message and "/v2/agents" in stream_error.internal_message
    assert sync_error.stream_descriptor is None and "agents" in sync_error.message  # the sync fails, never silently green


def test_a_403_on_the_account_probe_means_the_wrong_host_and_stops_the_sync(requests_mock):
    requests_mock.get(
        f"{API}/accounts/configuration", status_code=403, json={"code": 403, "status": "FORBIDDEN", "message": "Auth failure"}
    )
    agents = requests_mock.get(f"{API}/agents", json=envelope("agents", [{"id": "a1"}]))
    output = run_read(["agents", "account"])
    assert agents.call_count == 0
    assert output.errors[0].trace.error.message.startswith(
        "Freshchat refused the request (HTTP 403 FORBIDDEN - Auth failure). Either `domain`"
    )


def test_a_transient_failure_in_one_stream_still_syncs_the_others(requests_mock):
    requests_mock.get(f"{API}/agents", status_code=503, text="down")
    requests_mock.get(f"{API}/groups", json=envelope("groups", [{"id": "g1"}]))
    output = run_read(["agents", "groups"])
    assert [r["id"] for r in records_of(output, "groups")] == ["g1"]
    assert any("HTTP 503" in error.trace.error.message for error in output.errors)


def test_a_failure_while_walking_users_is_reported_under_the_stream_being_read(requests_mock):
    requests_mock.get(f"{API}/users", json=envelope("users", [{"id": "u1"}]))
    requests_mock.get(f"{API}/users/u1/conversations", status_code=500, json={"code": 500, "status": "INTERNAL_ERROR"})
    output = run_read(["messages"])
    [error] = [e for e in output.errors if e.trace.error.stream_descriptor]
    assert error.trace.error.stream_descriptor.name == "messages"
    assert "HTTP 500 from GET /v2/users/u1/conversations" in error.trace.error.message


def test_429s_that_never_end_fail_with_the_path_and_the_way_out(requests_mock):
    requests_mock.get(f"{API}/roles", status_code=429, headers={"Retry-After": "1"}, json={"code": 429, "status": "TOO_MANY_REQUESTS"})
    output = run_read(["roles"])
    error = output.errors[0].trace.error
    assert "HTTP 429" in error.message and "GET /v2/roles" in error.message and "requests_per_minute" in error.message
    assert error.failure_type == FailureType.transient_error  # the CDK's kind: Airbyte may retry the sync later
    assert "HTTP 429 from GET /v2/roles" in error.internal_message


def test_a_bare_object_without_its_key_is_a_changed_shape(requests_mock):
    requests_mock.get(f"{API}/accounts/configuration", json={"status": "OK", "data": {"account_id": "1"}})
    output = run_read(["account"])
    error = output.errors[0].trace.error
    assert "has no JSON object with 'account_id'" in error.message and error.internal_message == error.message
    assert records_of(output, "account") == []


def test_a_reset_time_already_past_means_no_wait_but_still_a_short_one():
    now = 1_700_000_000.0
    past = response_with(429, {"X-RateLimit-Reset": str(now - 100)})
    assert seconds_until_retry(past, now=now) == 0.0
    assert seconds_until_retry(response_with(429, {"Retry-After": "Tue, 14 Nov 2023 22:00:00 GMT"}), now=now) == 0.0
    assert FreshchatBackoffStrategy().backoff_time(response_with(429, {"X-RateLimit-Reset": "1"}), attempt_count=1) == 0.1


def test_an_html_404_from_a_proxy_fails_with_the_status_and_path(requests_mock):
    requests_mock.get(f"{API}/agents", status_code=404, text=HTML, headers={"Content-Type": "text/html"})
    output = run_read(["agents"])
    assert output.errors[0].trace.error.message == "HTTP 404 from GET /v2/agents"


def test_an_html_404_for_a_child_the_stream_tolerates_is_skipped(requests_mock):
    requests_mock.get(f"{API}/users", json=envelope("users", [{"id": "u1", "created_time": "2024-01-01T00:00:00.000Z"}]))
    requests_mock.get(f"{API}/users/u1/conversations", status_code=404, text=HTML, headers={"Content-Type": "text/html"})
    output = run_read(["conversations"])
    assert not output.errors
    assert any("Skipped GET /v2/users/u1/conversations: HTTP 404" in log.log.message for log in output.logs)


def test_a_429_wait_is_capped_at_ten_minutes():
    strategy = FreshchatBackoffStrategy()
    assert strategy.backoff_time(response_with(429, {"Retry-After": "5000"}), 1) == 600
    assert strategy.backoff_time(response_with(429, {}), 20) == 600


def test_a_retry_after_of_zero_or_less_asks_for_no_wait():
    assert seconds_until_retry(response_with(429, {"Retry-After": "0"}), now=1000) == 0.0
    assert seconds_until_retry(response_with(429, {"Retry-After": "-3"}), now=1000) == 0.0


def test_every_429_wait_is_logged_with_the_headers_it_came_from(caplog):
    FreshchatBackoffStrategy().backoff_time(response_with(429, {"Retry-After": "7"}), 2)
    assert "Rate limited by Freshchat on attempt 2; waiting 7.0s (Retry-After=7, X-RateLimit-Reset=None)" in caplog.messages


def test_a_network_error_is_retried_as_transient_naming_the_request_without_its_query():
    prepared = requests.Request("GET", f"{API}/agents?page=2").prepare()
    handler = FreshchatErrorHandler(logging.getLogger("airbyte"), {})
    resolution = handler.interpret_response(requests.exceptions.ReadTimeout("slow", request=prepared))
    assert (resolution.response_action, resolution.failure_type) == (ResponseAction.RETRY, FailureType.transient_error)
    assert resolution.error_message == "ReadTimeout calling GET /v2/agents"


def test_what_is_neither_a_response_nor_a_network_error_is_left_to_the_cdk():
    handler = FreshchatErrorHandler(logging.getLogger("airbyte"), {})
    assert handler.interpret_response(None).response_action == ResponseAction.FAIL
    assert handler.interpret_response(ValueError("boom")).error_message == "Unexpected exception in error handler: boom"


def test_refused_last_is_about_this_threads_latest_response_only():
    def answer(status):
        response = response_with(status, {"Content-Type": "application/json"})
        response._content = b'{"code": %d, "status": "X"}' % status
        response.request = requests.Request("GET", f"{API}/agents").prepare()
        return response

    handler = FreshchatErrorHandler(logging.getLogger("airbyte"), {})
    assert handler.refused_last() is False  # before any response
    handler.interpret_response(answer(403))
    assert handler.refused_last() is True
    elsewhere = []
    worker = threading.Thread(target=lambda: elsewhere.append(handler.refused_last()))
    worker.start()
    worker.join()
    assert elsewhere == [False]  # the walk's workers share a stream's handler
    handler.interpret_response(answer(500))
    assert handler.refused_last() is False


def test_a_body_is_parsed_once_for_the_error_handler_and_the_stream(mocker):
    answer = response_with(200, {"Content-Type": "application/json"})
    answer._content = b'{"agents": []}'
    loads = mocker.spy(errors.json, "loads")
    assert json_body(answer) == json_body(answer) == {"agents": []}
    assert loads.call_count == 1


@pytest.mark.parametrize(
    "status, action, failure_type",
    [
        (520, ResponseAction.RETRY, FailureType.transient_error),  # a proxy's 5xx the CDK's table does not list
        (503, ResponseAction.RETRY, FailureType.transient_error),
        (422, ResponseAction.FAIL, FailureType.system_error),
        (499, ResponseAction.FAIL, FailureType.system_error),  # nginx's "client closed request": the 5xx start at 500
    ],
)
def test_statuses_beyond_freshchats_own_are_retried_when_5xx_and_failed_otherwise(status, action, failure_type):
    answer = response_with(status, {"Content-Type": "application/json"})
    answer._content = b'{"status": "ODD", "message": "odd"}'
    answer.request = requests.Request("GET", f"{API}/agents").prepare()
    resolution = FreshchatErrorHandler(logging.getLogger("airbyte"), {}).interpret_response(answer)
    assert (resolution.response_action, resolution.failure_type) == (action, failure_type)
    assert resolution.error_message == f"HTTP {status} from GET /v2/agents: ODD - odd"


@pytest.mark.parametrize("content, kind", [(b"", "an empty body"), (b'{"agents": [', "a cut-off or malformed JSON body")])
def test_a_200_that_is_not_json_says_what_it_was(content, kind):
    answer = response_with(200, {"Content-Type": "application/json"})
    answer._content = content
    answer.request = requests.Request("GET", f"{API}/agents").prepare()
    resolution = FreshchatErrorHandler(logging.getLogger("airbyte"), {}).interpret_response(answer)
    assert resolution.response_action == ResponseAction.RETRY
    assert f"with a body that is not JSON ({kind})" in resolution.error_message


@pytest.mark.parametrize("message", ["Status code: 503", "Retrying. Sleeping for 2 seconds, Response Content: none of ours"])
def test_log_lines_without_a_response_body_pass_the_filter_unchanged(message):
    record = logging.LogRecord("airbyte", logging.INFO, __file__, 1, message, (), None)
    assert RESPONSE_BODY_LOG_FILTER.filter(record) and record.getMessage() == message
