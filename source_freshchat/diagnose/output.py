"""The terminal table of a diagnosis, read from the same report that goes into the JSON file."""

from typing import Any, List, Mapping

LABEL_WIDTH = 26
EVENT_COLUMNS = ("event", "outcome", "gen s", "links", "payload", "files", "columns", "rows", "time format", "storage host")


def rate_limit_text(finding: Mapping[str, Any]) -> str:
    if "limit" not in finding:
        return finding.get("timing", "no rate-limit headers")
    parts = [f"{finding['limit']} requests per window"]
    if "window_seconds" in finding:
        parts[0] += f" of {finding['window_seconds']} s"
        if "window_seconds_range" in finding:
            low, high = finding["window_seconds_range"]
            parts[0] += f" ({low}-{high})"
    if "reset_rounding" in finding:
        parts.append(f"reset rounded {finding['reset_rounding']}")
    if "window_opens" in finding:
        parts.append(f"windows open {finding['window_opens']}")
    if "timing" in finding:
        parts.append(f"timing {finding['timing']}")
    return "; ".join(parts)


def time_format_text(formats: List[Mapping[str, Any]]) -> str:
    texts = [f"{written['format']}, offset {written['offset']}" if "offset" in written else written["format"] for written in formats]
    return " | ".join(texts) or "-"


def event_row(event: str, finding: Mapping[str, Any]) -> List[str]:
    outcome = finding.get("outcome", "-")
    if outcome in ("refused", "poll refused", "quota"):
        answer = finding if outcome != "quota" else finding["throttled"][-1]
        return [event, f"{outcome} (HTTP {answer.get('status')}): {answer.get('message')}"]
    return [
        event,
        outcome,
        str(finding.get("generation_seconds", "-")),
        str(finding.get("links", "-")),
        finding.get("payload", "-"),
        str(finding.get("files", "-")),
        str(len(finding["columns"])) if "columns" in finding else "-",
        str(finding.get("rows", "-")),
        time_format_text(finding.get("time_formats", [])),
        ", ".join(finding.get("storage_hosts", [])) or "-",
    ]


def table(rows: List[List[str]]) -> List[str]:
    """Columns padded to their widest cell; a row with fewer cells (a refusal) lets its last one run on."""
    widths = [max((len(row[index]) for row in rows if len(row) > index + 1), default=0) for index in range(len(EVENT_COLUMNS))]
    return [
        "  " + "  ".join(cell if index == len(row) - 1 else cell.ljust(widths[index]) for index, cell in enumerate(row)) for row in rows
    ]


def line(label: str, text: str) -> str:
    return f"  {label:<{LABEL_WIDTH}}{text}"


def render(report: Mapping[str, Any], output_path: str) -> str:
    run = report["diagnose"]
    lines = [f"Freshchat diagnose, source-freshchat {run['connector_version']}: {run['requests']} requests in {run['seconds']:.0f} s", ""]
    account = report["account"]
    if "error" in report:
        lines += [f"Stopped early, {report['error']}; what was found before is below.", ""]
    if account.get("status") not in (200, None):
        lines.append(f"The account probe was refused (HTTP {account.get('status')}): {account.get('message')}")
    rest = report.get("rest")
    if rest:
        users, pages, bump = rest["users_updated_from"], rest["items_per_page"], rest["message_moves_conversation"]
        lines += [
            "REST API",
            line("rate limit", rate_limit_text(rest["rate_limit"])),
            line(
                "users updated_from",
                users["verdict"]
                + (f" ({users['users_updated_since_now']} of {users['users']} users updated since now)" if users.get("users") else ""),
            ),
            line("largest items_per_page", f"{pages['largest_served']} served; above 50: {pages['above_50']}"),
            line(
                "message moves updated",
                f"{bump['verdict']} ({bump['conversations_compared']} conversations compared, "
                f"{bump.get('updated_before_newest_message', 0)} updated before their newest message)",
            ),
            "",
        ]
    extract = report.get("extract")
    if extract:
        long_window = extract["long_window"]
        lines.append(f"EXTRACT API (windows of {extract['window_hours']:g} h; a long window of {extract['long_window_days']} days)")
        rows = [list(EVENT_COLUMNS)] + [event_row(event, finding) for event, finding in extract["events"].items()]
        rows.append(event_row(f"{long_window['event']}, {extract['long_window_days']} days", long_window))
        lines += table(rows)
        if long_window.get("link_hours"):
            lines.append(line("long window links span", f"{', '.join(f'{hours:g}' for hours in long_window['link_hours'])} h"))
        zone, quota = extract["zone"], extract["quota"]
        lines.append(line("report times", f"{zone['report_times']}; account timezone {zone['account_timezone']}"))
        quota_text = f"{quota['throttled_creations']} creations throttled"
        if quota["retry_after_seconds"]:
            quota_text += f" (Retry-After {', '.join(map(str, quota['retry_after_seconds']))} s)"
        if quota["without_retry_after"]:
            quota_text += f", {quota['without_retry_after']} without Retry-After"
        if quota["refused_events"]:
            quota_text += f"; refused for good: {', '.join(quota['refused_events'])}; scope {quota['scope']}"
        lines += [line("creation quota", quota_text), ""]
    lines.append(
        f"The report is in {output_path}. It holds column names, formats, counts, timings, statuses and hosts only. "
        "Please attach it to bug reports."
    )
    return "\n".join(lines) + "\n"
