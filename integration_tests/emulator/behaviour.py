"""The emulator's switches: how it answers where the real API's behaviour is uncertain, and which faults it injects.

A plain settings object, read per request by the HTTP side (server.py) and the Extract API (reports.py) alike, so
that neither module has to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional
from zoneinfo import ZoneInfo


@dataclass
class Behaviour:
    """Switches for the API's uncertain behaviours and for faults; the defaults are the happy path.

    Fields are read per request, so tests may change them while the emulator runs.
    """

    page_past_end: str = "empty"  # "empty": 200 with an empty list; "404": 404 WRONG_PAGE
    over_max_page_size: str = "clamp"  # "clamp": serve 50; "reject": 400
    outbound_list: str = "list"  # without request_id: "list", "refuse_400" or "refuse_404"
    users_filter_updated_from: bool = True  # False: updated_from/updated_to accepted but ignored
    retry_after: bool = True  # send Retry-After with 429s
    injected_retry_after_seconds: int = 1  # the wait a scripted 429 announces
    rate_limit: Optional[int] = None  # requests per fixed window; None: unlimited
    rate_limit_window_seconds: float = 60.0
    rate_limit_window_opens: str = "first_request"  # "first_request": after the last window ended; "clock": on multiples of its length
    rate_limit_reset_rounding: str = "up"  # X-RateLimit-Reset, the window's end in whole seconds: "up" or "down"
    rate_limit_spent_by_others: int = 0  # requests another client spends as each window opens
    error_rate: float = 0.0  # random 500/502/503
    html_rate: float = 0.0  # 200 with an HTML page
    truncated_rate: float = 0.0  # 200 with half a JSON body
    reset_rate: float = 0.0  # connection closed without a response
    hang_rate: float = 0.0  # sleep hang_seconds, then answer normally
    hang_seconds: float = 5.0
    latency_ms: float = 0.0  # added to every request
    html_everywhere: bool = False  # the host is not Freshchat: every path answers a login page
    forbidden_keys: set = field(default_factory=set)  # tokens answered 403 (wrong datacenter)
    message_bumps_conversation: bool = True  # a new message moves its conversation's updated_time
    # The Extract API (raw reports) and its storage host.
    extract_api: str = "available"  # "forbidden": 403 on every reports route; "missing": 404
    refused_events: set = field(default_factory=set)  # events job creation refuses with 400
    report_jobs_per_window: Optional[int] = None  # job creations per fixed window; None: unlimited
    report_job_window_seconds: float = 60.0
    report_href_with_v2: bool = False  # the job link's href: "/reports/raw/<id>" or "/v2/reports/raw/<id>"
    report_pending_polls: int = 1  # polls answered PENDING, then IN_PROGRESS, before COMPLETED
    report_never_completes: bool = False  # jobs stay IN_PROGRESS forever
    report_failures: dict = field(default_factory=dict)  # event -> how many of its next jobs FAIL
    report_lag_seconds: float = 0.0  # an event is in a report once this long has passed since its time
    report_link_hours: float = 720.0  # a completed job has one link per piece of its window this long
    report_link_ttl_seconds: float = 3600.0  # how long a signed link stays valid
    report_payload: str = "zip"  # "zip": a ZIP of report_files_per_zip CSV files; "csv": the plain CSV
    report_files_per_zip: int = 1
    report_header_style: str = "snake"  # "snake": conversation_id; "title": "Conversation ID", plain UTC times
    storage_redirect: Optional[str] = None  # "https" or "http": a link's first request is redirected there
    # Readings of the Extract API that Freshchat leaves open (README, report streams); the defaults are the first reading.
    report_max_window_hours: dict = field(default_factory=dict)  # event (or "*": every event) -> longest window; longer: 400
    report_window_refusal: str = "The time range between start and end must not exceed {hours:g} hours"  # that 400's message
    report_daily_quota: Optional[int] = None  # job creations per UTC day (ReportDesk.new_day() starts the next); None: unlimited
    report_daily_quota_scope: str = "event"  # "event": each event has its own quota; "account": one for all events
    report_daily_quota_retry_after: bool = True  # the quota's 429 says when the day ends (Retry-After); False: no advice at all
    report_time_zone: Optional[str] = None  # an IANA zone: report times (rows, links, interval) are local, without an offset
    report_time_format: str = "iso"  # row times: "iso", "space" (2025-07-10 19:47:55.442), "epoch_s" or "epoch_ms"
    report_interval_echo: bool = True  # a poll's answer echoes the job's window as `interval`; False: no interval
    report_links_of_empty_pieces: bool = True  # a piece of the window without rows has a link too; False: none (no rows: no links)
    account_time_zone: bool = True  # accounts/configuration has a `timezone` (report_time_zone when set); False: none

    def __post_init__(self):
        choices = {
            "page_past_end": ("empty", "404"),
            "over_max_page_size": ("clamp", "reject"),
            "outbound_list": ("list", "refuse_400", "refuse_404"),
            "rate_limit_window_opens": ("first_request", "clock"),
            "rate_limit_reset_rounding": ("up", "down"),
            "extract_api": ("available", "forbidden", "missing"),
            "report_payload": ("zip", "csv"),
            "report_header_style": ("snake", "title"),
            "storage_redirect": (None, "https", "http"),
            "report_daily_quota_scope": ("event", "account"),
            "report_time_format": ("iso", "space", "epoch_s", "epoch_ms"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"Behaviour.{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if self.report_time_zone is not None:
            ZoneInfo(self.report_time_zone)  # an unknown zone fails here, not at the first report
