"""Freshchat's Extract API (raw reports): one client and job queue per sync, shared by every reader of reports.

A report is a job Freshchat generates for one event and window; its payload is downloaded from pre-signed links on a
storage host that is not Freshchat. The package keeps apart what a reviewer reads apart:
- `jobs.py`: `ExtractClient`, the queue that creates, polls and splits jobs within Freshchat's creation quota, and
  replaces expired links;
- `download.py`: `StorageClient`, the downloads from the storage host: no credentials, https only, links kept out of
  the logs (the file a security review reads);
- `payload.py`: ZIP/CSV payloads read row by row, header names normalised;
- `times.py`: how far back a window may start, and what the times written in reports mean;
- `errors.py`: `ReportError`, a report this sync cannot have.

Which events exist, and how their rows read, is the report streams' business: `streams/report_events.py`.
"""

from .errors import ReportError
from .jobs import ExtractClient, ReportJob, ReportLink, ReportRead
from .payload import Row
from .times import ZONE_MARGIN, reach_floor, window_end

__all__ = ["ExtractClient", "ReportError", "ReportJob", "ReportLink", "ReportRead", "Row", "ZONE_MARGIN", "reach_floor", "window_end"]
