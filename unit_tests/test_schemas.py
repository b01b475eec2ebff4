"""The stream schemas in source_freshchat/schemas, loaded the way the CDK loads them.

Every field Freshchat documents for a stream (DOCUMENTED_FIELDS below) is declared, every field is
nullable except the primary key, nothing closes a schema, and realistic records (written here with
Freshchat's awkward cases) validate while malformed ones do not.
"""

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping, Tuple

import pytest
import requests_mock
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator, FormatChecker

from source_freshchat import SourceFreshchat
from source_freshchat.config import parse_settings
from source_freshchat.extract.payload import normalise_column
from source_freshchat.streams.report_events import EVENTS
from source_freshchat.streams.reports import KEY_COLUMN, ReportStream
from source_freshchat.sync import Sync

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "source_freshchat" / "schemas"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"

PRIMARY_KEYS = {
    "account": "account_id",
    "users": "id",
    "conversations": "conversation_id",
    "messages": "id",
    "conversation_properties": "id",
    "agents": "id",
    "groups": "id",
    "channels": "id",
    "roles": "id",
    "outbound_messages": "message_id",
}
# One stream per Extract API event: its natural id where it has one, else the row hash.
REPORT_PRIMARY_KEYS = {event.stream: event.natural_key or KEY_COLUMN for event in EVENTS.values()}
PRIMARY_KEYS.update(REPORT_PRIMARY_KEYS)
STREAMS = sorted(PRIMARY_KEYS)

# Fields Freshchat documents, per stream.
DOCUMENTED_FIELDS = {
    "account": {"account_id"},
    "users": {
        "id",
        "created_time",
        "updated_time",
        "email",
        "first_name",
        "last_name",
        "phone",
        "avatar",
        "properties",
        "reference_id",
        "restore_id",
        "social_profiles",
        "login_status",
        "org_contact_id",
    },
    "conversations": {
        "conversation_id",
        "conversation_internal_id",
        "app_id",
        "status",
        "channel_id",
        "assigned_agent_id",
        "assigned_group_id",
        "assigned_org_agent_id",
        "skill_id",
        "properties",
        "url",
        "org_contact_id",
        "created_time",
        "updated_time",
        "user_id",
        "messages",
        "agents",
        "users",
    },
    "messages": {
        "id",
        "conversation_id",
        "actor_type",
        "actor_id",
        "message_type",
        "message_parts",
        "reply_parts",
        "meta_data",
        "in_reply_to",
        "message_source",
        "interaction_id",
        "app_id",
        "channel_id",
        "created_time",
    },
    "conversation_properties": {
        "id",
        "name",
        "label",
        "column_name",
        "type",
        "custom",
        "required",
        "editable",
        "position",
        "default_value",
        "choices",
        "fields",
    },
    "agents": {
        "id",
        "created_time",
        "updated_time",
        "email",
        "first_name",
        "last_name",
        "phone",
        "avatar",
        "biography",
        "groups",
        "role_id",
        "role_name",
        "routing_type",
        "availability_status",
        "agent_status",
        "agent_capacity",
        "is_deactivated",
        "is_deleted",
        "login_status",
        "locale",
        "timezone",
        "skill_id",
        "social_profiles",
        "freshdesk_agent_id",
        "freshid_uuid",
        "license_type",
        "org_contact_id",
    },
    "groups": {"id", "name", "description", "routing_type", "chat_group_id", "agents"},
    "channels": {
        "id",
        "name",
        "icon",
        "enabled",
        "public",
        "tags",
        "locale",
        "welcome_message",
        "source",
        "updated_time",
    },
    "roles": {"id", "name", "description", "is_custom_role", "is_default", "permissions"},
    "outbound_messages": {
        "message_id",
        "request_id",
        "from",
        "to",
        "provider",
        "data",
        "status",
        "channel",
        "recipients",
        "metrics",
        "created_on",
        "created_time",
        "updated_time",
        "failure_code",
        "failure_reason",
    },
}
# Columns seen in use per kind of event.
LIFECYCLE_COLUMNS = {"conversation_id", "created_at", "agent_id"}
DOCUMENTED_FIELDS.update(
    {
        "agent_activity": {"agent_id", "created_at"},
        "agent_intelliassign_activity": {"agent_id", "created_at"},
        "conversation_agent_assigned": LIFECYCLE_COLUMNS,
        "conversation_group_assigned": {"conversation_id", "created_at", "group_id"},
        "conversation_created": {"conversation_id", "created_at", "channel_id", "group_id"},
        "conversation_resolved": LIFECYCLE_COLUMNS | {"group_id"},
        "conversation_resolution_label": LIFECYCLE_COLUMNS,
        "message_sent": LIFECYCLE_COLUMNS | {"message_id"},
        "csat_score": {"csat_id", "value", "csat_response", "agent_id", "conversation_id", "created_at"},
        "first_response_time": LIFECYCLE_COLUMNS | {"value_in_seconds", "group_id", "channel_id"},
        "response_time": LIFECYCLE_COLUMNS | {"value_in_seconds"},
        "resolution_time": LIFECYCLE_COLUMNS | {"value_in_seconds", "group_id", "channel_id"},
        "chat_transcript": {"conversation_id", "message_id", "created_time", "actor_type", "actor_id", "message_type", "message_parts"},
    }
)

PART_KINDS = {
    "text",
    "image",
    "file",
    "url_button",
    "quick_reply_button",
    "callback",
    "collection",
    "reference",
    "template_content",
    "email",
}

CONVERSATION_ID = "2d7f0b59-5a87-4a0c-9b59-0d6f1c1d4f1e"
USER_ID = "7a1e8d6c-3f0e-4c58-9a0b-5d1b6c2e9f10"
AGENT_ID = "0b4f7e2a-9c1d-4e3b-8a6f-2c5d9e1f3a70"
CHANNEL_ID = "c3a9f1e2-6b7d-4a8c-9e0f-1d2b3c4d5e6f"
APP_ID = "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
GROUP_ID = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"

ALL_PARTS = [
    {"text": {"content": "Hello, how can we help?"}},
    {"image": {"url": "https://cdn.freshchat.com/img/abc.png"}},
    {
        "file": {
            "name": "invoice.pdf",
            "url": "https://cdn.freshchat.com/files/invoice.pdf",
            "file_size_in_bytes": 48213,
            "content_type": "application/pdf",
        }
    },
    {"url_button": {"url": "https://example.com/help", "label": "Help centre", "target": "_blank"}},
    {"quick_reply_button": {"label": "Yes", "custom_reply_text": "Yes please", "payload": "yes"}},
    {"callback": {"label": "Track order", "payload": "track_order"}},
    {
        "collection": {
            "sub_parts": [
                {"quick_reply_button": {"label": "Billing"}},
                {"url_button": {"url": "https://example.com", "label": "Site"}},
                {"collection": {"sub_parts": [{"text": {"content": "nested"}}]}},
            ]
        }
    },
    {"reference": {"label": "Order #1234", "reference_id": "1234"}},
    {
        "template_content": {
            "type": "quick_reply_dropdown",
            "sections": [
                {"name": "title", "parts": [{"text": {"content": "Pick one"}}]},
                {
                    "name": "options",
                    "parts": [
                        {"callback": {"payload": "a", "label": "A"}},
                        {"callback": {"payload": "b", "label": "B"}},
                    ],
                },
            ],
        }
    },
    {
        "email": {
            "subject": "Re: your order",
            "content": "<p>Thanks for writing in.</p>",
            "from": "support@example.com",
        }
    },
]

SAMPLES = {
    "account": [
        {
            "account_id": 873624,
            "app_id": APP_ID,
            "web_chat_id": "4e1d2c3b-aaaa-bbbb-cccc-123456789abc",
            "account_domain": "acme-1234567-abcdef0.freshchat.com",
            "datacenter": "US",
            "organisation_id": 1589023,
            "organisation_domain": "acme.myfreshworks.com",
            "bundle_id": 1220440,
            "bundle_type": "CUSTOMER_SERVICE_SUITE",
            "plan_type": "pro",
        },
        {"account_id": "873624"},
    ],
    "users": [
        {
            "id": USER_ID,
            "created_time": "2025-07-10T19:47:55.442Z",
            "updated_time": "2025-07-11T08:00:01.000Z",
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+44 20 7946 0000",
            "avatar": {"url": "https://cdn.freshchat.com/avatars/ada.png"},
            "properties": [
                {"name": "plan", "value": "gold"},
                {"name": "seats", "value": 12},
                {"name": "vip", "value": True},
                {"name": "interests", "value": ["maths", "engines"]},
                {"name": "cf_unset", "value": None},
            ],
            "reference_id": "crm-001",
            "restore_id": "8f14e45f-ceea-467f-a0e6-1b3c2d4e5f60",
            "social_profiles": [{"id": "@ada", "type": "twitter"}],
            "login_status": False,
            "org_contact_id": "1745368459812398080",
        },
        {"id": "e3b0c442-98fc-41c1-b4a6-0f4a8d5e6f70"},
        {
            "id": "a1b2c3d4-0000-4000-8000-000000000001",
            "email": None,
            "avatar": None,
            "properties": [],
            "social_profiles": None,
        },
    ],
    "conversations": [
        {
            "conversation_id": CONVERSATION_ID,
            "created_time": "2025-07-10T19:47:55.442Z",
            "updated_time": "2025-07-10T20:01:12.007Z",
            "conversation_internal_id": 48213572,
            "app_id": APP_ID,
            "status": "resolved",
            "channel_id": CHANNEL_ID,
            "user_id": USER_ID,
            "assigned_agent_id": AGENT_ID,
            "assigned_group_id": GROUP_ID,
            "assigned_org_agent_id": "1745368459812398099",
            "skill_id": 12,
            "org_contact_id": "1745368459812398080",
            "url": "https://acme.freshchat.com/a/1234/open/conversation/48213572",
            "properties": {
                "priority": "Low",
                "cf_type": "0b6f2c1e-choice-id-for-refund",
                "cf_products": ["choice-id-1", "choice-id-2"],
                "cf_order_value": 129.5,
                "cf_escalated": False,
                "cf_notes": None,
            },
        },
        {"conversation_id": "11111111-2222-4333-8444-555555555555", "status": "waiting_on_customer"},
        {
            "conversation_id": "66666666-7777-4888-9999-000000000000",
            "conversation_internal_id": "48213573",
            "skill_id": None,
            "properties": {},
            "messages": [{"message_parts": [{"text": {"content": "hi"}}], "actor_type": "user"}],
            "agents": [{"id": AGENT_ID}],
            "users": [{"id": USER_ID}],
        },
    ],
    "messages": [
        {
            "id": "m-0001-text",
            "created_time": "2025-07-10T19:47:55.442Z",
            "conversation_id": CONVERSATION_ID,
            "app_id": APP_ID,
            "channel_id": CHANNEL_ID,
            "actor_type": "user",
            "actor_id": USER_ID,
            "message_type": "normal",
            "message_source": "web",
            "message_parts": [{"text": {"content": "My order is late"}}],
            "meta_data": {"isReopen": True, "browser": {"name": "Firefox"}},
            "interaction_id": "48213572-1720640875442",
            "user_id": USER_ID,
        },
        {
            "id": "m-0002-all-parts",
            "created_time": "2025-07-10T19:48:00Z",
            "conversation_id": CONVERSATION_ID,
            "actor_type": "bot",
            "actor_id": "bot-1",
            "message_type": "normal",
            "message_parts": ALL_PARTS,
            "reply_parts": [
                {"collection": {"sub_parts": [{"quick_reply_button": {"label": "No"}}]}},
                {
                    "template_content": {
                        "type": "carousel",
                        "sections": [{"name": "cards", "parts": [{"image": {"url": "https://x/y.png"}}]}],
                    }
                },
            ],
            "meta_data": '{"isResolved": true}',
            "in_reply_to": {"message_id": "m-0001-text"},
        },
        {
            "id": "m-0003-system",
            "created_time": "2025-07-10T20:01:12.007Z",
            "actor_type": "system",
            "message_type": "system",
            "message_parts": [],
            "reply_parts": None,
            "meta_data": None,
            "in_reply_to": None,
        },
        {"id": "m-0004-private", "message_type": "private", "meta_data": ""},
    ],
    "conversation_properties": [
        {
            "id": "cf-1",
            "name": "cf_type",
            "label": "Type",
            "column_name": "cf_type",
            "type": "DROPDOWN",
            "custom": True,
            "required": False,
            "editable": True,
            "position": 3,
            "default_value": None,
            "choices": [
                {"id": "0b6f2c1e-choice-id-for-refund", "value": "Refund"},
                {"id": "0b6f2c1e-choice-id-for-bug", "value": "Bug"},
            ],
            "fields": [],
        },
        {
            "id": "cf-2",
            "name": "cf_products",
            "label": "Products",
            "column_name": "cf_products",
            "type": "MULTI_SELECT_DROPDOWN",
            "custom": True,
            "position": 4,
            "default_value": ["choice-id-1"],
            "choices": [{"id": "choice-id-1", "value": "Widget"}, {"id": 2, "value": "Gadget"}],
            "fields": [{"id": "cf-2-1", "name": "cf_sub", "type": "TEXT"}],
        },
        {"id": "priority", "name": "priority", "type": "DROPDOWN", "custom": False, "default_value": "Low"},
        {"id": "cf-3", "type": "NUMBER", "default_value": 0},
    ],
    "agents": [
        {
            "id": AGENT_ID,
            "created_time": "2023-01-04T10:00:00.000Z",
            "updated_time": "2025-07-01T09:30:00.000Z",
            "email": "grace@example.com",
            "first_name": "Grace",
            "last_name": "Hopper",
            "phone": None,
            "avatar": {"url": "https://cdn.freshchat.com/avatars/grace.png"},
            "biography": "Compiler whisperer",
            "groups": [GROUP_ID, "another-group-id"],
            "role_id": "ACCOUNT_ADMIN",
            "role_name": "Account Admin",
            "routing_type": "INTELLIASSIGN",
            "availability_status": "AVAILABLE",
            "agent_status": {"id": "status-1", "name": "Available"},
            "agent_capacity": 5,
            "is_deactivated": False,
            "is_deleted": False,
            "login_status": True,
            "locale": "en-us",
            "timezone": "Europe/London",
            "skill_id": "7",
            "social_profiles": [],
            "freshdesk_agent_id": 80012345678,
            "freshid_uuid": "b0a1c2d3-e4f5-4678-9abc-def012345678",
            "license_type": "FULL_TIME",
            "org_contact_id": "1745368459812398099",
        },
        {
            "id": "agent-2",
            "agent_capacity": {"chat": 3, "email": 10},
            "freshdesk_agent_id": "80012345679",
            "groups": [],
            "skill_id": 7,
        },
        {"id": "agent-3", "agent_capacity": None, "groups": None, "agent_status": None},
    ],
    "groups": [
        {
            "id": GROUP_ID,
            "name": "Billing",
            "description": "Invoices and refunds",
            "routing_type": "INTELLIASSIGN",
            "chat_group_id": "123456",
            "agents": [AGENT_ID],
        },
        {"id": "group-2", "agents": [{"id": AGENT_ID, "email": "grace@example.com"}], "chat_group_id": 9},
        {"id": "group-3", "description": None},
    ],
    "channels": [
        {
            "id": CHANNEL_ID,
            "updated_time": "2025-06-30T12:00:00.000Z",
            "name": "Support",
            "icon": {"url": "https://cdn.freshchat.com/icons/support.png"},
            "enabled": True,
            "public": True,
            "tags": ["support", "vip"],
            "locale": "en",
            "source": "FRESHCHAT",
            "welcome_message": {
                "message_parts": [{"text": {"content": "Hi! We reply in minutes."}}],
                "message_type": "normal",
                "isBotsInput": False,
                "botsPrivateNote": False,
                "restrictResponse": False,
            },
        },
        {"id": "channel-2", "icon": {}, "welcome_message": None, "tags": []},
    ],
    "roles": [
        {
            "id": "ACCOUNT_ADMIN",
            "name": "Account Admin",
            "description": "Full access",
            "is_custom_role": False,
            "is_default": True,
            "permissions": ["VIEW_REPORTS", "MANAGE_AGENTS"],
        },
        {
            "id": "custom-role-1",
            "name": "Supervisor",
            "is_custom_role": True,
            "is_default": False,
            "permissions": [{"name": "VIEW_REPORTS", "enabled": True}],
        },
        {"id": "custom-role-2", "permissions": {"reports": ["view"]}},
        {"id": "custom-role-3", "permissions": None, "description": None},
    ],
    "outbound_messages": [
        {
            "message_id": "om-0001",
            "created_time": "2024-04-18T09:27:55.442Z",
            "updated_time": "2024-04-18T09:28:10.000Z",
            "created_on": 1713432475442,
            "request_id": "req-7d1f",
            "status": "DELIVERED",
            "provider": "whatsapp",
            "channel": "whatsapp",
            "from": {"phone_number": "+15550001111"},
            "to": {"phone_number": "+15550002222"},
            "recipients": [{"phone_number": "+15550002222", "status": "DELIVERED"}],
            "data": {
                "message_template": {
                    "storage": "none",
                    "template_name": "order_shipped",
                    "namespace": "a1b2c3d4_e5f6",
                    "language": {"policy": "deterministic", "code": "en"},
                    "rich_template_data": {"body": {"params": [{"data": "Ada"}]}},
                }
            },
            "metrics": {"sent": 1, "delivered": 1, "read": 0, "failed": 0},
            "failure_code": None,
            "failure_reason": None,
        },
        {
            "message_id": "om-0002",
            "created_on": 1713432475000,
            "created_time": "2024-04-18T09:27:55.000Z",
            "status": "Failed",
            "to": [{"phone_number": "+15550003333"}],
            "recipients": ["+15550003333"],
            "channel": {"id": "wa-1", "name": "WhatsApp"},
            "failure_code": 1013,
            "failure_reason": "User is not a WhatsApp user",
        },
        {"message_id": "om-0003", "created_on": None, "created_time": None, "failure_code": "E1013"},
    ],
}


def report_sample(stream: str, row: Mapping[str, str]) -> Mapping[str, Any]:
    """A raw report row (title-style headers, as some accounts write them) as the stream emits it."""
    event = next(event for event in EVENTS.values() if event.stream == stream)
    settings = parse_settings({"domain": "acme", "api_key": "key"})
    normalised = {normalise_column(name): value or None for name, value in row.items()}
    with requests_mock.Mocker() as api:  # times without an offset are read in the account's zone
        api.get(f"{settings.api_base}accounts/configuration", json={"timezone": "Etc/UTC"})
        return ReportStream(event, Sync(settings)).record_of(normalised)


REPORT_ROWS = {
    "agent_activity": {"Agent ID": AGENT_ID, "Status": "Lunch", "Previous Status": "AVAILABLE", "Created At": "2026-10-01 08:00:00"},
    "agent_intelliassign_activity": {"Agent ID": AGENT_ID, "Activity": "ONLINE", "Created At": "2026-10-01T08:00:00.000Z"},
    "conversation_agent_assigned": {
        "Conversation ID": CONVERSATION_ID,
        "Agent ID": AGENT_ID,
        "Group ID": GROUP_ID,
        "Assigned By": "system",
        "Created At": "2026-10-01 08:00:00",
    },
    "conversation_group_assigned": {"Conversation ID": CONVERSATION_ID, "Group ID": GROUP_ID, "Created At": "2026-10-01 08:00:00"},
    "conversation_created": {
        "Conversation ID": CONVERSATION_ID,
        "User ID": USER_ID,
        "Channel ID": CHANNEL_ID,
        "Group ID": "",
        "Created At": "2026-10-01 08:00:00",
    },
    "conversation_resolved": {"Conversation ID": CONVERSATION_ID, "Agent ID": AGENT_ID, "Created At": "2026-10-01 09:00:00"},
    "conversation_resolution_label": {
        "Conversation ID": CONVERSATION_ID,
        "Label": "Billing",
        "Sub Label": "Refund",
        "Created At": "1759309200",
    },
    "message_sent": {"Message ID": "m-1", "Conversation ID": CONVERSATION_ID, "Agent ID": AGENT_ID, "Created At": "2026-10-01 08:05:00"},
    "csat_score": {"CSAT ID": "csat-1", "Conversation ID": CONVERSATION_ID, "Value": "4", "CSAT Response": 'Fast, "kind"\nthanks'},
    "first_response_time": {"Conversation ID": CONVERSATION_ID, "Agent ID": AGENT_ID, "Value In Seconds": "42", "Created At": "2026-10-01"},
    "response_time": {"Conversation ID": CONVERSATION_ID, "Message ID": "m-2", "Value In Seconds": "12.5", "Created At": "2026-10-01"},
    "resolution_time": {
        "Conversation ID": CONVERSATION_ID,
        "Value In Seconds": "3600",
        "Unknown Column": "kept",
        "Created At": "2026-10-01",
    },
    "chat_transcript": {
        "Conversation ID": CONVERSATION_ID,
        "Message ID": "m-3",
        "Actor Type": "user",
        "Message Parts": '[{"text": {"content": "Hi, my order, please"}}]',
        "Created Time": "2026-10-01T08:00:00.123Z",
    },
}
SAMPLES.update({stream: [report_sample(stream, row)] for stream, row in REPORT_ROWS.items()})

# Records a schema must reject: (stream, record, why).
BAD_RECORDS = [
    ("users", {"id": None}, "null primary key"),
    ("users", {"email": "ada@example.com"}, "missing primary key"),
    ("users", {"id": USER_ID, "properties": {"plan": "gold"}}, "properties is a list of pairs"),
    ("users", {"id": USER_ID, "created_time": 1720640875442}, "timestamps are strings"),
    ("users", {"id": USER_ID, "created_time": "10/07/2025"}, "timestamps are ISO-8601"),
    ("conversations", {"conversation_id": 48213572}, "conversation_id is a uuid string"),
    ("conversations", {"conversation_id": CONVERSATION_ID, "properties": ["x"]}, "properties is an object"),
    ("messages", {"id": "m", "meta_data": 5}, "meta_data is an object or a string"),
    ("messages", {"id": "m", "message_parts": [{"text": "hi"}]}, "a text part is an object"),
    ("messages", {"id": "m", "message_parts": [{"collection": {"sub_parts": ["x"]}}]}, "sub_parts are objects"),
    ("channels", {"id": "c", "welcome_message": {"message_parts": "hi"}}, "welcome_message is message-shaped"),
    ("outbound_messages", {"message_id": "om", "created_on": "1713432475442"}, "created_on is an integer"),
    ("outbound_messages", {"message_id": None}, "null primary key"),
    ("account", {"account_id": None}, "null primary key"),
    ("agents", {"id": "a", "groups": "g1"}, "groups is a list"),
]


def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checks("date-time")(_check_date_time)


@pytest.fixture(scope="module")
def schemas() -> Mapping[str, Mapping[str, Any]]:
    loader = ResourceSchemaLoader("source_freshchat")
    return {name: loader.get_schema(name) for name in STREAMS}


def _subschemas(schema: Any, path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], Mapping[str, Any]]]:
    """Every subschema with its path; property names are never taken for keywords."""
    if not isinstance(schema, Mapping):
        return
    yield path, schema
    for keyword, value in schema.items():
        if keyword in ("properties", "patternProperties", "definitions") and isinstance(value, Mapping):
            for name, sub in value.items():
                yield from _subschemas(sub, (*path, keyword, name))
        elif keyword in ("items", "allOf", "anyOf", "oneOf") and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from _subschemas(sub, (*path, keyword, str(index)))
        elif keyword in ("items", "additionalProperties", "not", "if", "then", "else", "contains"):
            yield from _subschemas(value, (*path, keyword))


def _types(schema: Mapping[str, Any]) -> set:
    declared = schema.get("type")
    return {declared} if isinstance(declared, str) else set(declared or [])


def _validator(schema: Mapping[str, Any]) -> Draft7Validator:
    return Draft7Validator(schema, format_checker=FORMAT_CHECKER)


def test_schema_files_are_the_streams():
    assert sorted(p.stem for p in SCHEMAS_DIR.glob("*.json")) == STREAMS
    assert sorted(stream.name for stream in SourceFreshchat().streams({"domain": "acme", "api_key": "key"})) == STREAMS


def _pretty(value: Any, level: int = 0) -> str:
    """2-space indented JSON, lists of scalars (type unions, required) kept on one line."""
    inner, outer = "  " * (level + 1), "  " * level
    if isinstance(value, dict) and value:
        body = ",\n".join(f"{inner}{json.dumps(k)}: {_pretty(v, level + 1)}" for k, v in value.items())
        return "{\n" + body + f"\n{outer}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        body = ",\n".join(f"{inner}{_pretty(v, level + 1)}" for v in value)
        return "[\n" + body + f"\n{outer}]"
    return json.dumps(value)


@pytest.mark.parametrize("path", sorted(SCHEMAS_DIR.glob("**/*.json")), ids=lambda p: str(p.relative_to(SCHEMAS_DIR)))
def test_files_are_pretty_printed_json(path):
    text = path.read_text()
    assert text == _pretty(json.loads(text)) + "\n"


@pytest.mark.parametrize("stream", STREAMS)
def test_schema_is_valid_draft7_object(schemas, stream):
    schema = schemas[stream]
    assert schema["$schema"] == DRAFT_07
    Draft7Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is True


@pytest.mark.parametrize("stream", STREAMS)
def test_refs_are_resolved(schemas, stream):
    for path, sub in _subschemas(schemas[stream]):
        assert "$ref" not in sub, f"{stream}: unresolved $ref at {'/'.join(path)}"
    assert "definitions" not in schemas[stream]


@pytest.mark.parametrize("stream", STREAMS)
def test_every_field_nullable_except_primary_key(schemas, stream):
    properties = schemas[stream]["properties"]
    pk = PRIMARY_KEYS[stream]
    assert pk in properties
    pk_types = _types(properties[pk])
    assert "string" in pk_types and "null" not in pk_types
    assert not pk_types & {"object", "array"}
    for name, sub in properties.items():
        if name == pk:
            continue
        types = _types(sub)
        assert types, f"{stream}.{name} declares no type"
        assert "null" in types, f"{stream}.{name} is not nullable: {sorted(types)}"


@pytest.mark.parametrize("stream", STREAMS)
def test_no_closed_objects_or_unsupported_keywords(schemas, stream):
    for path, sub in _subschemas(schemas[stream]):
        where = f"{stream} at /{'/'.join(path)}"
        assert sub.get("additionalProperties") is not False, where
        assert "allOf" not in sub and "not" not in sub, where
        if sub.get("format") == "date-time":
            assert _types(sub) == {"null", "string"}, where


@pytest.mark.parametrize("stream", STREAMS)
def test_documented_fields_are_declared(schemas, stream):
    missing = DOCUMENTED_FIELDS[stream] - set(schemas[stream]["properties"])
    assert not missing, f"{stream} lacks {sorted(missing)}"


def test_cdk_catalog_checks_pass(schemas):
    checks = pytest.importorskip("airbyte_cdk.test.standard_tests._catalog_checks")
    from airbyte_cdk.models import AirbyteCatalog, AirbyteStream, SyncMode

    catalog = AirbyteCatalog(
        streams=[
            AirbyteStream(
                name=name,
                json_schema=copy.deepcopy(schemas[name]),
                supported_sync_modes=[SyncMode.full_refresh],
                source_defined_primary_key=[[PRIMARY_KEYS[name]]],
            )
            for name in STREAMS
        ]
    )
    problems = checks.find_catalog_problems(catalog)
    assert not problems, checks.format_catalog_problems(problems)


def test_message_shape_is_shared(schemas):
    messages = schemas["messages"]["properties"]
    welcome = schemas["channels"]["properties"]["welcome_message"]
    assert "null" in _types(welcome) and "object" in _types(welcome)
    for name, sub in messages.items():
        if name != "id":
            assert welcome["properties"][name] == sub, name
    part = messages["message_parts"]["items"]
    assert messages["reply_parts"]["items"] == part
    assert set(part["properties"]) == PART_KINDS
    sub_part = part["properties"]["collection"]["properties"]["sub_parts"]["items"]
    assert sub_part == {
        "description": sub_part["description"],
        "type": ["null", "object"],
        "additionalProperties": True,
    }


def test_samples_cover_every_part_kind_and_meta_data_form():
    kinds = {kind for record in SAMPLES["messages"] for part in record.get("message_parts") or [] for kind in part}
    assert kinds == PART_KINDS
    meta_types = {type(record.get("meta_data")) for record in SAMPLES["messages"] if "meta_data" in record}
    assert {dict, str, type(None)} <= meta_types


@pytest.mark.parametrize(
    "stream,index",
    [(stream, index) for stream in STREAMS for index in range(len(SAMPLES[stream]))],
)
def test_sample_record_validates(schemas, stream, index):
    record = SAMPLES[stream][index]
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(schemas[stream]).iter_errors(record)]
    assert not errors, errors


@pytest.mark.parametrize("stream,record,why", BAD_RECORDS, ids=[why for _, _, why in BAD_RECORDS])
def test_malformed_record_is_rejected(schemas, stream, record, why):
    assert list(_validator(schemas[stream]).iter_errors(record)), why
