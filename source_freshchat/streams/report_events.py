"""The 13 report streams: one Extract API event each, with its stream name, its cursor column and what identifies a row.

`streams/reports.py` builds one stream per entry, in this order; column names are the normalised ones
(`extract/payload.py`). The README's section "Report streams" lists them; integration_tests/emulator serves the same.
"""

from dataclasses import dataclass
from typing import Mapping, Optional


@dataclass(frozen=True)
class ReportEvent:
    """One Extract API event and how its rows read: which column holds the event's time, what identifies a row."""

    name: str
    stream: str
    identity: tuple  # with the time, what the key hashes where the event carries no id column, or a row lacks it
    time_column: str = "created_at"
    natural_key: Optional[str] = None  # an id column the event carries


# In the order streams are registered.
EVENTS: Mapping[str, ReportEvent] = {
    event.name: event
    for event in (
        ReportEvent("Agent-Activity", "agent_activity", identity=("agent_id", "status")),
        ReportEvent("Agent-Intelliassign-Activity", "agent_intelliassign_activity", identity=("agent_id", "activity")),
        ReportEvent("Conversation-Agent-Assigned", "conversation_agent_assigned", identity=("conversation_id", "agent_id")),
        ReportEvent("Conversation-Group-Assigned", "conversation_group_assigned", identity=("conversation_id", "group_id")),
        ReportEvent("Conversation-Created", "conversation_created", identity=("conversation_id",)),
        ReportEvent("Conversation-Resolved", "conversation_resolved", identity=("conversation_id", "agent_id")),
        ReportEvent("Conversation-Resolution-Label", "conversation_resolution_label", identity=("conversation_id", "label", "sub_label")),
        ReportEvent("Message-Sent", "message_sent", identity=("conversation_id", "agent_id"), natural_key="message_id"),
        ReportEvent("CSAT-Score", "csat_score", identity=("conversation_id", "agent_id"), natural_key="csat_id"),
        ReportEvent("First-Response-Time", "first_response_time", identity=("conversation_id", "agent_id")),
        ReportEvent("Response-Time", "response_time", identity=("conversation_id", "agent_id"), natural_key="message_id"),
        ReportEvent("Resolution-Time", "resolution_time", identity=("conversation_id", "agent_id")),
        ReportEvent(
            "Chat-Transcript",
            "chat_transcript",
            identity=("conversation_id", "agent_id"),
            time_column="created_time",
            natural_key="message_id",
        ),
    )
}
