"""The emulator's deterministic Freshchat dataset, its Extract API event log, and the mutations tests apply to it.

Every record is stored in the exact shape the API serves it, so `Dataset.records(stream)` is
what a connector should emit. The same (seed, users, conversations_per_user,
messages_per_conversation, start_ms) always gives the same records, down to ids and timestamps,
because every random choice comes from one seeded RNG drawn in a fixed order; the events of the
generated data draw from a second one, so adding them changed no record.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
DATA_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00.000Z

STREAM_NAMES = (
    "account",
    "users",
    "conversations",
    "messages",
    "conversation_properties",
    "agents",
    "groups",
    "channels",
    "roles",
    "outbound_messages",
)

# Every message-part kind of the API, served in rotation so any dataset of ten or more
# non-system messages shows all of them.
PART_KINDS = (
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
)
ACTOR_TYPES = ("user", "agent", "system", "bot")
CONVERSATION_STATUSES = ("new", "assigned", "resolved", "reopened", "pending_customer")
OUTBOUND_STATUSES = ("ACCEPTED", "IN_PROGRESS", "SENT", "DELIVERED", "READ", "FAILED")
MESSAGE_SOURCES = ("web", "mobile", "whatsapp", "api")
AGENT_COUNT = 57  # more than one page of 50, so agent paging is always exercised
OUTBOUND_MESSAGE_COUNT = 23
DUPLICATE_LISTING_EVERY = 5  # every 5th user also lists its predecessor's first conversation

FIRST_NAMES = (
    "Ada",
    "Bela",
    "Chen",
    "Dara",
    "Emeka",
    "Farah",
    "Goran",
    "Hana",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Yuki",
)
LAST_NAMES = (
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Fischer",
    "Reyes",
    "Ivanova",
    "Mensah",
    "Dubois",
    "Nakamura",
    "O'Brien",
    "Rossi",
)
PHRASES = (
    "Hi, my order has not arrived yet.",
    "Could you check invoice 4471 for me?",
    "Thanks, that fixed it!",
    "I can't log in since this morning.",
    "Is there a discount for annual plans?",
    "Let me look into that for you.",
    "Your refund was issued today.",
    "Can I change the delivery address?",
)
ROLE_DEFINITIONS = (
    ("Account Admin", "Full access including billing", False),
    ("Admin", "Manages agents, groups and settings", False),
    ("Supervisor", "Monitors and reassigns conversations", False),
    ("Agent", "Answers conversations", False),
    ("Billing Lead", "Custom role for the billing desk", True),
)
GROUP_NAMES = ("Tier 1", "Tier 2", "Billing", "Sales", "Onboarding", "VIP", "Returns", "Night shift")
CHANNEL_NAMES = ("Support", "Sales", "Billing", "Onboarding", "WhatsApp", "Feedback")

# The Extract API's events and the snake-case columns of their CSV rows. Each row's last column
# is its time: `created_time` for Chat-Transcript, `created_at` for every other event.
REPORT_EVENTS = {
    "Conversation-Created": ("conversation_id", "user_id", "channel_id", "group_id", "created_at"),
    "Conversation-Agent-Assigned": ("conversation_id", "agent_id", "group_id", "assigned_by", "created_at"),
    "Conversation-Group-Assigned": ("conversation_id", "group_id", "assigned_by", "created_at"),
    "Conversation-Resolved": ("conversation_id", "agent_id", "group_id", "resolved_by", "created_at"),
    "Conversation-Resolution-Label": ("conversation_id", "agent_id", "label", "sub_label", "created_at"),
    "Message-Sent": ("message_id", "conversation_id", "agent_id", "channel_id", "message_type", "created_at"),
    "Chat-Transcript": (
        "conversation_id",
        "message_id",
        "actor_type",
        "actor_id",
        "message_type",
        "message_parts",
        "created_time",
    ),
    "CSAT-Score": ("csat_id", "conversation_id", "agent_id", "group_id", "value", "csat_response", "created_at"),
    "First-Response-Time": ("conversation_id", "agent_id", "group_id", "channel_id", "value_in_seconds", "created_at"),
    "Response-Time": ("conversation_id", "message_id", "agent_id", "group_id", "value_in_seconds", "created_at"),
    "Resolution-Time": ("conversation_id", "agent_id", "group_id", "channel_id", "value_in_seconds", "created_at"),
    "Agent-Activity": ("agent_id", "status", "previous_status", "created_at"),
    "Agent-Intelliassign-Activity": ("agent_id", "activity", "created_at"),
}
AGENT_STATUSES = ("AVAILABLE", "UNAVAILABLE")
INTELLIASSIGN_ACTIVITIES = ("ONLINE", "OFFLINE", "CAPACITY_REACHED")
RESOLUTION_LABELS = (
    ("Billing", "Refund"),
    ("Billing", "Invoice"),
    ("Technical", "Login"),
    ("Technical", ""),
    ("Sales", "Pricing"),
    ("Delivery", "Late order"),
)
# Free text as customers type it: commas, quotes and line breaks that a CSV must quote.
CSAT_RESPONSES = (
    "",
    "Great help, thanks!",
    'The agent said "try again later", which did not help.',
    "Quick answer.\nWould recommend, 10/10",
    "Slow, but solved",
)
# Only agents routed by IntelliAssign have Agent-Intelliassign-Activity events.
INTELLIASSIGN_ROUTING = "INTELLIGENTASSIGN"
EXTRACT_WINDOW_DAYS_BACK = 640  # recent data starts here: most of it inside the Extract API's 15 months


def encode_json(payload) -> bytes:
    """The emulator's one JSON encoding: compact UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def iso_from_ms(epoch_ms: int) -> str:
    """The API's timestamp form: ISO-8601 UTC, milliseconds, `Z`."""
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_from_iso(text: str) -> int:
    """Epoch milliseconds of an ISO timestamp; accepts a fraction or not, `Z`, an offset or no zone (UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def time_column(event: str) -> str:
    """The column holding a report row's time."""
    return REPORT_EVENTS[event][-1]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def recent_start_ms() -> int:
    """Today's UTC midnight minus 640 days: generated data then ends before now, mostly within 15 months."""
    return (now_ms() // MS_PER_DAY - EXTRACT_WINDOW_DAYS_BACK) * MS_PER_DAY


def _seconds_between(earlier: str, later: str) -> str:
    return str((ms_from_iso(later) - ms_from_iso(earlier)) // 1000)


def canonical_timestamp(text: str) -> str:
    """A query timestamp in the dataset's own form, so bounds compare as plain strings.

    Raises ValueError for text that is not a timestamp.
    """
    return iso_from_ms(ms_from_iso(text))


class _RecordFactory:
    """Builds realistic records from one seeded RNG.

    The initial dataset and later mutations draw from the same RNG in call order, so the same
    sequence of calls always yields the same records.
    """

    def __init__(self, seed: int, start_ms: int):
        self.rng = random.Random(seed)
        self.start_ms = start_ms  # the account's creation: every generated timestamp is later
        self.latest_ms = start_ms  # the latest timestamp handed out, for the dataset clock
        self._next_internal_id = 7_000_000_000 + self.rng.randrange(1_000_000_000)
        self._message_serial = 0
        self._part_serial = 0
        self.account = self._account()
        self.bot_id = self.uuid()

    # -- primitives ------------------------------------------------------------------------
    def uuid(self) -> str:
        return random_uuid(self.rng)

    def stamp(self, epoch_ms: int) -> str:
        """Formats a timestamp and remembers it, so the dataset clock starts after all data."""
        self.latest_ms = max(self.latest_ms, epoch_ms)
        return iso_from_ms(epoch_ms)

    def moment_after(self, start_ms: int, max_days: float) -> int:
        return start_ms + self.rng.randrange(int(max_days * MS_PER_DAY) + 1)

    def digits(self, count: int) -> str:
        return str(self.rng.randrange(10 ** (count - 1), 10**count))

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def maybe(self, probability: float) -> bool:
        return self.rng.random() < probability

    # -- account and directory -------------------------------------------------------------
    def _account(self) -> dict:
        org_id = self.digits(12)
        return {
            "account_id": self.uuid(),
            "account_name": "Acme Support",
            "app_id": self.uuid(),
            "org_id": org_id,
            "datacenter": "US",
            "account_domain": f"acme-support-{org_id}-{self.hex(6)}.freshchat.com",
            "plan": "pro",
            "timezone": "Etc/UTC",
            "locale": "en",
            "created_time": self.stamp(self.start_ms),
        }

    def roles(self) -> list[dict]:
        return [
            {"id": self.uuid(), "name": name, "description": description, "is_custom_role": custom}
            for name, description, custom in ROLE_DEFINITIONS
        ]

    def groups(self) -> list[dict]:
        return [
            {
                "id": self.uuid(),
                "name": name,
                "description": f"{name} queue",
                "routing_type": self.rng.choice(("INTELLIGENT", "ROUND_ROBIN", "DISABLED")),
                "chat_group_id": int(self.digits(6)),
                "agents": [],  # filled in once agents exist
            }
            for name in GROUP_NAMES
        ]

    def agents(self, roles: list[dict], groups: list[dict]) -> list[dict]:
        agents = [self._agent(index, roles, groups) for index in range(AGENT_COUNT)]
        for group in groups:
            group["agents"] = [agent["id"] for agent in agents if group["id"] in agent["groups"]]
        return agents

    def _agent(self, index: int, roles: list[dict], groups: list[dict]) -> dict:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        role = self.rng.choice(roles)
        created_ms = self.moment_after(self.start_ms, 400)
        available = self.maybe(0.6)
        agent = {
            "id": self.uuid(),
            "created_time": self.stamp(created_ms),
            "email": f"{first}.{last}.agent{index}@acme.example".lower().replace("'", ""),
            "first_name": first,
            "last_name": last,
            "avatar": {"url": f"https://cdn.acme.example/agents/{self.hex(16)}.png"},
            "biography": f"{first} has been on the {role['name']} team since {iso_from_ms(created_ms)[:4]}.",
            "groups": [group["id"] for group in self.rng.sample(groups, self.rng.randint(0, 3))],
            "role_id": role["id"],
            "role_name": role["name"],
            "routing_type": self.rng.choice(("INTELLIGENTASSIGN", "ROUND_ROBIN")),
            "availability_status": "AVAILABLE" if available else "UNAVAILABLE",
            "agent_status": {"id": self.uuid(), "name": "Available" if available else "Lunch"},
            "agent_capacity": self.rng.randint(3, 12),
            "is_deactivated": index % 19 == 18,
            "is_deleted": False,
            "login_status": available,
            "locale": self.rng.choice(("en", "de", "fr", "pt-BR")),
            "timezone": self.rng.choice(("Etc/UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")),
            "social_profiles": [],
            "freshid_uuid": self.uuid(),
            "license_type": self.rng.choice(("fulltime", "occasional")),
            "org_contact_id": self.digits(18),
        }
        if self.maybe(0.7):
            agent["updated_time"] = self.stamp(self.moment_after(created_ms, 200))
        if self.maybe(0.5):
            agent["phone"] = self._phone()
        if self.maybe(0.3):
            agent["skill_id"] = self.uuid()
        if self.maybe(0.4):
            agent["freshdesk_agent_id"] = int(self.digits(11))
        return agent

    def channels(self) -> list[dict]:
        return [self._channel(name) for name in CHANNEL_NAMES]

    def _channel(self, name: str) -> dict:
        return {
            "id": self.uuid(),
            "name": name,
            "icon": {"url": f"https://cdn.acme.example/channels/{self.hex(12)}.svg"},
            "enabled": name != "Feedback",
            "public": name not in ("Billing", "Feedback"),
            "tags": [name.lower()] if self.maybe(0.5) else [],
            "locale": "en",
            "welcome_message": {
                "message_parts": [{"text": {"content": f"Welcome to {name}! How can we help?"}}],
                "message_type": "normal",
                "actor_type": "system",
            },
            "source": "WHATSAPP" if name == "WhatsApp" else "FRESHCHAT",
            "updated_time": self.stamp(self.moment_after(self.start_ms, 300)),
        }

    def conversation_fields(self) -> list[dict]:
        definitions = (
            ("priority", "Priority", "DROPDOWN", False, ("Low", "Medium", "High", "Urgent")),
            ("cf_type", "Type", "DROPDOWN", True, ("Question", "Incident", "Problem", "Feature request")),
            ("cf_products", "Products", "MULTI_SELECT_DROPDOWN", True, ("Web app", "iOS", "Android", "API")),
            ("cf_order_number", "Order number", "TEXT", True, ()),
            ("cf_vip", "VIP customer", "CHECKBOX", True, ()),
            ("cf_follow_up_on", "Follow up on", "DATE", True, ()),
        )
        return [self._conversation_field(position, *definition) for position, definition in enumerate(definitions, start=1)]

    def _conversation_field(self, position, column_name, label, field_type, custom, choice_values) -> dict:
        choices = [{"id": self.uuid(), "value": value} for value in choice_values]
        return {
            "id": self.uuid(),
            "name": label.lower().replace(" ", "_"),
            "label": label,
            "column_name": column_name,
            "type": field_type,
            "custom": custom,
            "required": column_name == "priority",
            "editable": True,
            "position": position,
            "default_value": choices[0]["id"] if choices and column_name == "priority" else None,
            "choices": choices,
            "fields": [],
        }

    def outbound_messages(self) -> list[dict]:
        messages, request_id = [], None
        for index in range(OUTBOUND_MESSAGE_COUNT):
            # Bulk sends share one request_id, so a request_id lookup can return several.
            if request_id is None or self.maybe(0.6):
                request_id = self.uuid()
            messages.append(self._outbound_message(index, request_id))
        return messages

    def _outbound_message(self, index: int, request_id: str) -> dict:
        status = OUTBOUND_STATUSES[index % len(OUTBOUND_STATUSES)]
        created_ms = self.moment_after(self.start_ms + 366 * MS_PER_DAY, 240)
        self.stamp(created_ms)
        recipient = self._phone()
        message = {
            "message_id": self.uuid(),
            "request_id": request_id,
            "from": {"phone_number": "+15550100200"},
            "to": {"phone_number": recipient},
            "provider": "whatsapp",
            "channel": "whatsapp",
            "recipients": [{"phone_number": recipient}],
            "data": {"message_template": self._message_template()},
            "status": status,
            "metrics": {
                "sent": int(status in ("SENT", "DELIVERED", "READ")),
                "delivered": int(status in ("DELIVERED", "READ")),
                "read": int(status == "READ"),
                "failed": int(status == "FAILED"),
            },
            "created_on": created_ms,  # the API sends epoch milliseconds here, not ISO text
            "updated_time": self.stamp(self.moment_after(created_ms, 2)),
        }
        if status == "FAILED":
            message["failure_code"] = "131026"
            message["failure_reason"] = "Message undeliverable: recipient is not a WhatsApp user"
        return message

    def _message_template(self) -> dict:
        return {
            "storage": "none",
            "template_name": self.rng.choice(("order_shipped", "payment_reminder", "appointment")),
            "namespace": self.uuid(),
            "language": {"policy": "deterministic", "code": "en"},
            "rich_template_data": {"body": {"params": [{"data": self.rng.choice(FIRST_NAMES)}]}},
        }

    # -- users, conversations, messages ----------------------------------------------------
    def user(self, created_ms: int, updated_ms: int) -> dict:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        user = {
            "id": self.uuid(),
            "created_time": self.stamp(created_ms),
            "updated_time": self.stamp(updated_ms),
            "first_name": first,
            "email": f"{first}.{last}.{self.digits(5)}@mail.example".lower().replace("'", ""),
            "properties": [
                {"name": "plan", "value": self.rng.choice(("free", "pro", "enterprise"))},
                {"name": "cf_signup_source", "value": self.rng.choice(("web", "ios", "android"))},
            ],
            "login_status": self.maybe(0.3),
            "org_contact_id": self.digits(18),
        }
        # Real users miss fields freely; drop some so connectors meet absent keys.
        optional_fields = (
            ("last_name", 0.85, lambda: last),
            ("phone", 0.6, self._phone),
            ("avatar", 0.5, lambda: {"url": f"https://cdn.mail.example/avatars/{self.hex(16)}.png"}),
            ("reference_id", 0.7, lambda: f"crm-{self.digits(7)}"),
            ("restore_id", 0.5, self.uuid),
            ("social_profiles", 0.4, lambda: [{"id": f"@{first.lower()}{self.digits(3)}", "type": "twitter"}]),
        )
        for name, probability, build in optional_fields:
            if self.maybe(probability):
                user[name] = build()
        if self.maybe(0.1):
            del user["email"]
        return user

    def conversation(
        self, user_id: str, created_ms: int, channels: list[dict], agents: list[dict], groups: list[dict], fields: list[dict]
    ) -> dict:
        internal_id = self._next_internal_id
        self._next_internal_id += self.rng.randint(1, 500)
        status = self.rng.choice(CONVERSATION_STATUSES)
        conversation = {
            "conversation_id": self.uuid(),
            "conversation_internal_id": internal_id,
            "app_id": self.account["app_id"],
            "status": status,
            "channel_id": self.rng.choice(channels)["id"],
        }
        if status != "new":  # only unassigned conversations lack an agent
            conversation["assigned_agent_id"] = self.rng.choice(agents)["id"]
            if self.maybe(0.3):
                conversation["assigned_org_agent_id"] = self.digits(18)
        if self.maybe(0.6):
            conversation["assigned_group_id"] = self.rng.choice(groups)["id"]
        if self.maybe(0.2):
            conversation["skill_id"] = self.uuid()
        conversation["properties"] = self._conversation_properties(fields)
        conversation["url"] = f"https://{self.account['account_domain']}/a/{self.account['app_id']}/open/conversation/{internal_id}"
        if self.maybe(0.4):
            conversation["org_contact_id"] = self.digits(18)
        conversation["created_time"] = self.stamp(created_ms)
        conversation["updated_time"] = conversation["created_time"]
        conversation["user_id"] = user_id
        return conversation

    def _conversation_properties(self, fields: list[dict]) -> dict:
        """Values keyed by column_name; dropdowns hold choice ids, as the API serves them."""
        properties = {}
        for field in fields:
            if field["column_name"] != "priority" and not self.maybe(0.7):
                continue
            properties[field["column_name"]] = self._property_value(field)
        return properties

    def _property_value(self, field: dict):
        choice_ids = [choice["id"] for choice in field["choices"]]
        if field["type"] == "DROPDOWN":
            return self.rng.choice(choice_ids)
        if field["type"] == "MULTI_SELECT_DROPDOWN":
            return self.rng.sample(choice_ids, self.rng.randint(1, 2))
        if field["type"] == "CHECKBOX":
            return self.maybe(0.2)
        if field["type"] == "DATE":
            return iso_from_ms(self.moment_after(self.start_ms, 700))[:10]
        return f"ORD-{self.digits(6)}"

    def message(
        self, conversation: dict, created_ms: int, earlier: list[dict], agents: list[dict], actor_type: Optional[str] = None
    ) -> dict:
        """A message from actor_type, or from the next actor of the rotation when it is None."""
        if actor_type is not None and actor_type not in ACTOR_TYPES:
            raise ValueError(f"actor_type must be one of {ACTOR_TYPES}, not {actor_type!r}")
        serial = self._message_serial
        self._message_serial += 1
        actor_type = actor_type or ACTOR_TYPES[serial % len(ACTOR_TYPES)]
        message = {
            "id": self.uuid(),
            "conversation_id": conversation["conversation_id"],
            "actor_type": actor_type,
        }
        actor_id = self._actor_id(actor_type, conversation, agents)
        if actor_id:
            message["actor_id"] = actor_id
        message.update(self._message_body(actor_type, serial))
        if serial % 5 == 0:
            message["meta_data"] = {"isReply": bool(earlier), "source": self.rng.choice(MESSAGE_SOURCES)}
        elif serial % 5 == 1:
            # Some integrations store meta_data as a plain string; the API passes it through.
            message["meta_data"] = f"campaign:{self.rng.choice(('spring-sale', 'renewal', 'nps'))}"
        if earlier and self.maybe(0.2):
            message["in_reply_to"] = {"message_id": self.rng.choice(earlier)["id"]}
        message["message_source"] = self.rng.choice(MESSAGE_SOURCES)
        interaction_start_ms = ms_from_iso(conversation["created_time"])
        message["interaction_id"] = f"{conversation['conversation_internal_id']}-{interaction_start_ms}"
        message["app_id"] = conversation["app_id"]
        message["channel_id"] = conversation["channel_id"]
        message["created_time"] = self.stamp(created_ms)
        return message

    def _actor_id(self, actor_type: str, conversation: dict, agents: list[dict]) -> Optional[str]:
        if actor_type == "user":
            return conversation["user_id"]
        if actor_type == "agent":
            return conversation.get("assigned_agent_id") or self.rng.choice(agents)["id"]
        if actor_type == "bot":
            return self.bot_id
        return None  # system messages carry no actor id

    def _message_body(self, actor_type: str, serial: int) -> dict:
        if actor_type == "system":
            return {
                "message_type": "system",
                "message_parts": [{"text": {"content": "Conversation was assigned to Tier 1"}}],
            }
        kind = PART_KINDS[self._part_serial % len(PART_KINDS)]
        self._part_serial += 1
        body = {
            "message_type": "private" if actor_type == "agent" and serial % 3 == 0 else "normal",
            "message_parts": [{kind: self._part(kind)}],
        }
        if kind in ("template_content", "quick_reply_button"):
            body["reply_parts"] = [
                {
                    "collection": {
                        "sub_parts": [
                            {"quick_reply_button": self._part("quick_reply_button")},
                            {"quick_reply_button": self._part("quick_reply_button")},
                        ]
                    }
                }
            ]
        return body

    def _part(self, kind: str) -> dict:
        return getattr(self, f"_{kind}_part")()

    def _text_part(self) -> dict:
        return {"content": self.rng.choice(PHRASES)}

    def _image_part(self) -> dict:
        return {"url": f"https://cdn.mail.example/uploads/{self.hex(20)}.jpg"}

    def _file_part(self) -> dict:
        return {
            "name": self.rng.choice(("invoice.pdf", "screenshot.png", "logs.txt")),
            "url": f"https://cdn.mail.example/uploads/{self.hex(20)}",
            "file_size_in_bytes": self.rng.randint(1_000, 5_000_000),
            "content_type": "application/octet-stream",
        }

    def _url_button_part(self) -> dict:
        return {"url": f"https://shop.example/orders/{self.digits(6)}", "label": "Track order", "target": "_blank"}

    def _quick_reply_button_part(self) -> dict:
        label = self.rng.choice(("Yes", "No", "Talk to an agent"))
        return {"label": label, "custom_reply_text": label}

    def _callback_part(self) -> dict:
        return {"label": "Confirm", "payload": f"confirm:{self.hex(8)}"}

    def _collection_part(self) -> dict:
        return {"sub_parts": [{"text": self._text_part()}, {"url_button": self._url_button_part()}]}

    def _reference_part(self) -> dict:
        return {"label": "Order", "reference_id": f"ORD-{self.digits(6)}"}

    def _template_content_part(self) -> dict:
        return {
            "type": "quick_reply_dropdown",
            "sections": [{"name": "options", "parts": [{"quick_reply_button": self._quick_reply_button_part()}]}],
        }

    def _email_part(self) -> dict:
        return {
            "subject": "Re: your order",
            "content": self.rng.choice(PHRASES),
            "from_email": "support@acme.example",
            "to_emails": ["customer@mail.example"],
        }

    def _phone(self) -> str:
        return f"+1555{self.digits(7)}"


class Dataset:
    """All records the emulator serves, in API shape, the Extract API's event log, and thread-safe mutations.

    Attributes are plain dicts and lists that the server reads live under `lock`. Change users,
    conversations and directory records freely, preferably through the mutation methods; treat a
    stored message as immutable (its JSON is encoded once) and add new ones with `add_message`.
    Mutations take timestamps from a clock that starts after every generated timestamp and moves
    forward at least 1 ms per call, so later mutations always carry later times; with
    `live_clock` it also keeps up with real time, so mutations happen "now" for a report window.
    `message_bumps_conversation` is asked at each `add_message`, so the emulator can pass its
    live Behaviour switch.

    `events` holds every Extract API event as {"event", "time", "row"}, rows in the CSV's snake
    columns with string values. Events of the generated data draw from their own RNG, so the
    records are the same as a dataset without events would hold. Mutations that Freshchat reports
    add their events; `update_conversation` (a property-only edit) adds none, as in Freshchat.
    """

    def __init__(
        self,
        seed: int = 7,
        users: int = 20,
        conversations_per_user: int = 2,
        messages_per_conversation: int = 7,
        message_bumps_conversation: Callable[[], bool] = lambda: True,
        start_ms: int = DATA_START_MS,
        live_clock: bool = False,
    ):
        self.lock = threading.RLock()
        self._factory = _RecordFactory(seed, start_ms)
        self._event_rng = random.Random(seed + 1)
        self._live_clock = live_clock
        self._message_bumps_conversation = message_bumps_conversation
        self._message_json: dict[str, tuple[dict, bytes]] = {}
        self.events: list[dict] = []
        self._events_by_name: dict[str, list[dict]] = {name: [] for name in REPORT_EVENTS}
        factory = self._factory
        self.account = factory.account
        self.roles = factory.roles()
        self.groups = factory.groups()
        self.agents = factory.agents(self.roles, self.groups)
        self.channels = factory.channels()
        self.conversation_fields = factory.conversation_fields()
        self.outbound_messages = factory.outbound_messages()
        self.users: dict[str, dict] = {}
        self.user_conversations: dict[str, list[str]] = {}
        self.conversations: dict[str, dict] = {}
        self.messages: dict[str, list[dict]] = {}
        for _ in range(users):
            self._generate_user(conversations_per_user, messages_per_conversation)
        self._list_some_conversations_twice()
        self._clock_ms = factory.latest_ms
        self._generate_agent_events(until_ms=self._clock_ms)
        for events in (self.events, *self._events_by_name.values()):
            events.sort(key=lambda event: event["time"])

    # -- generation ------------------------------------------------------------------------
    def _generate_user(self, conversation_count: int, message_count: int) -> None:
        factory = self._factory
        created_ms = factory.moment_after(factory.start_ms, 540)
        user = factory.user(created_ms, factory.moment_after(created_ms, 90))
        self.users[user["id"]] = user
        self.user_conversations[user["id"]] = []
        for _ in range(conversation_count):
            conversation = self._store_conversation(user["id"], factory.moment_after(created_ms, 60))
            self._generate_messages(conversation, message_count)
            self._generate_conversation_events(conversation)

    def _generate_messages(self, conversation: dict, count: int) -> None:
        moment_ms = ms_from_iso(conversation["created_time"])
        messages = self.messages[conversation["conversation_id"]]
        for _ in range(count):
            # A gap of at least one second keeps created_time strictly increasing: no ties.
            moment_ms += self._factory.rng.randint(1_000, MS_PER_HOUR)
            messages.append(self._factory.message(conversation, moment_ms, messages, self.agents))
        if messages:  # the last activity happens shortly after the newest message
            last_activity_ms = moment_ms + self._factory.rng.randrange(10 * MS_PER_MINUTE)
            conversation["updated_time"] = self._factory.stamp(last_activity_ms)

    def _generate_conversation_events(self, conversation: dict) -> None:
        """A generated conversation's history, between its created_time and its updated_time.

        Assignment falls halfway to the first message; resolution halfway from the last message
        to the last activity, which is the CSAT answer when there is one.
        """
        rng = self._event_rng
        thread = self.messages[conversation["conversation_id"]]
        created, updated = conversation["created_time"], conversation["updated_time"]
        self._record_created(conversation)
        first_activity = thread[0]["created_time"] if thread else created
        assigner = rng.choice(("", rng.choice(self.agents)["id"]))  # "": assigned automatically
        self._record_assignment(
            conversation,
            _halfway(created, first_activity),
            assigner,
            conversation.get("assigned_agent_id"),
            conversation.get("assigned_group_id"),
        )
        for index in range(len(thread)):
            self._record_message(conversation, thread, index)
        if conversation["status"] == "resolved":
            label = rng.choice(RESOLUTION_LABELS) if rng.random() < 0.5 else None
            csat = (rng.randint(1, 5), rng.choice(CSAT_RESPONSES)) if rng.random() < 0.5 else None
            resolved = _halfway(thread[-1]["created_time"] if thread else created, updated)
            self._record_resolution(conversation, resolved, label, csat, csat_time=updated)

    def _generate_agent_events(self, until_ms: int) -> None:
        """A few status changes per agent, the last one to its current status, before until_ms."""
        rng = self._event_rng
        for agent in self.agents:
            created_ms = ms_from_iso(agent["created_time"])
            moments = sorted(rng.randint(created_ms, until_ms) for _ in range(rng.randint(2, 4)))
            statuses = [agent["availability_status"]]
            for _ in moments:  # walking back from the current status, each change flips it
                statuses.insert(0, _other_status(statuses[0]))
            for moment_ms, previous, status in zip(moments, statuses, statuses[1:]):
                self._record("Agent-Activity", iso_from_ms(moment_ms), agent_id=agent["id"], status=status, previous_status=previous)
            if agent["routing_type"] == INTELLIASSIGN_ROUTING:
                for moment_ms in sorted(rng.randint(created_ms, until_ms) for _ in range(rng.randint(1, 3))):
                    activity = rng.choice(INTELLIASSIGN_ACTIVITIES)
                    self._record("Agent-Intelliassign-Activity", iso_from_ms(moment_ms), agent_id=agent["id"], activity=activity)

    def _store_conversation(self, user_id: str, created_ms: int) -> dict:
        conversation = self._factory.conversation(user_id, created_ms, self.channels, self.agents, self.groups, self.conversation_fields)
        conversation_id = conversation["conversation_id"]
        self.conversations[conversation_id] = conversation
        self.messages[conversation_id] = []
        self.user_conversations[user_id].append(conversation_id)
        return conversation

    def _list_some_conversations_twice(self) -> None:
        """Freshchat may list one conversation under two users; connectors must de-duplicate."""
        user_ids = list(self.user_conversations)
        for index in range(DUPLICATE_LISTING_EVERY - 1, len(user_ids), DUPLICATE_LISTING_EVERY):
            previous_listing = self.user_conversations[user_ids[index - 1]]
            if previous_listing:
                self.user_conversations[user_ids[index]].append(previous_listing[0])

    # -- events ----------------------------------------------------------------------------
    def _record(self, name: str, moment: str, **values) -> None:
        """Appends one event; values name every column but the time, None standing for empty."""
        columns = REPORT_EVENTS[name]
        row = {column: "" if values[column] is None else str(values[column]) for column in columns[:-1]}
        row[columns[-1]] = moment
        event = {"event": name, "time": moment, "row": row}
        self.events.append(event)
        self._events_by_name[name].append(event)

    def _record_created(self, conversation: dict) -> None:
        self._record(
            "Conversation-Created",
            conversation["created_time"],
            conversation_id=conversation["conversation_id"],
            user_id=conversation["user_id"],
            channel_id=conversation.get("channel_id"),
            group_id=conversation.get("assigned_group_id"),
        )

    def _record_assignment(
        self, conversation: dict, moment: str, assigned_by: str, agent_id: Optional[str], group_id: Optional[str]
    ) -> None:
        conversation_id = conversation["conversation_id"]
        if agent_id is not None:
            self._record(
                "Conversation-Agent-Assigned",
                moment,
                conversation_id=conversation_id,
                agent_id=agent_id,
                group_id=conversation.get("assigned_group_id"),
                assigned_by=assigned_by,
            )
        if group_id is not None:
            self._record("Conversation-Group-Assigned", moment, conversation_id=conversation_id, group_id=group_id, assigned_by=assigned_by)

    def _record_message(self, conversation: dict, thread: list[dict], index: int) -> None:
        """Chat-Transcript for thread[index]; for an agent's message also what Freshchat measures of it."""
        message = thread[index]
        moment = message["created_time"]
        conversation_id = conversation["conversation_id"]
        self._record(
            "Chat-Transcript",
            moment,
            conversation_id=conversation_id,
            message_id=message["id"],
            actor_type=message["actor_type"],
            actor_id=message.get("actor_id"),
            message_type=message.get("message_type"),
            message_parts=encode_json(message.get("message_parts", [])).decode(),
        )
        if message["actor_type"] != "agent":
            return
        agent_id, group_id, channel_id = message.get("actor_id"), conversation.get("assigned_group_id"), conversation.get("channel_id")
        self._record(
            "Message-Sent",
            moment,
            message_id=message["id"],
            conversation_id=conversation_id,
            agent_id=agent_id,
            channel_id=channel_id,
            message_type=message.get("message_type"),
        )
        waiting_since, answered_before = _reply_context(thread, index)
        if waiting_since is not None:
            self._record(
                "Response-Time",
                moment,
                conversation_id=conversation_id,
                message_id=message["id"],
                agent_id=agent_id,
                group_id=group_id,
                value_in_seconds=_seconds_between(waiting_since, moment),
            )
        if not answered_before:
            self._record(
                "First-Response-Time",
                moment,
                conversation_id=conversation_id,
                agent_id=agent_id,
                group_id=group_id,
                channel_id=channel_id,
                value_in_seconds=_seconds_between(conversation["created_time"], moment),
            )

    def _record_resolution(self, conversation: dict, moment: str, label: Optional[tuple], csat: Optional[tuple], csat_time: str) -> None:
        """Resolved and Resolution-Time; a (label, sub_label) and a (value, response) CSAT when given."""
        conversation_id, agent_id = conversation["conversation_id"], conversation.get("assigned_agent_id")
        group_id = conversation.get("assigned_group_id")
        who = {"conversation_id": conversation_id, "agent_id": agent_id}
        self._record("Conversation-Resolved", moment, **who, group_id=group_id, resolved_by=agent_id)
        self._record(
            "Resolution-Time",
            moment,
            **who,
            group_id=group_id,
            channel_id=conversation.get("channel_id"),
            value_in_seconds=_seconds_between(conversation["created_time"], moment),
        )
        if label is not None:
            self._record("Conversation-Resolution-Label", moment, **who, label=label[0], sub_label=label[1])
        if csat is not None:
            self._record(
                "CSAT-Score",
                csat_time,
                csat_id=random_uuid(self._event_rng),
                **who,
                group_id=group_id,
                value=csat[0],
                csat_response=csat[1],
            )

    # -- reading ---------------------------------------------------------------------------
    def records(self, stream_name: str) -> list:
        """Records of one connector stream exactly as the API serves them."""
        with self.lock:
            by_stream = {
                "account": lambda: [self.account],
                "users": lambda: list(self.users.values()),
                "conversations": lambda: list(self.conversations.values()),
                "messages": lambda: [message for thread in self.messages.values() for message in thread],
                "conversation_properties": lambda: list(self.conversation_fields),
                "agents": lambda: list(self.agents),
                "groups": lambda: list(self.groups),
                "channels": lambda: list(self.channels),
                "roles": lambda: list(self.roles),
                "outbound_messages": lambda: list(self.outbound_messages),
            }
            if stream_name not in by_stream:
                raise KeyError(f"unknown stream {stream_name!r}; expected one of {STREAM_NAMES}")
            return by_stream[stream_name]()

    def report_rows(self, event: str, start_iso: str, end_iso: str) -> list[dict]:
        """The rows of one event with time in [start, end), in time order: what a report holds once nothing lags."""
        if event not in REPORT_EVENTS:
            raise KeyError(f"unknown event {event!r}; expected one of {tuple(REPORT_EVENTS)}")
        start, end = canonical_timestamp(start_iso), canonical_timestamp(end_iso)
        with self.lock:
            events = self._events_by_name[event]
            in_window = [item for item in events if start <= item["time"] < end]
        return [item["row"] for item in sorted(in_window, key=lambda item: item["time"])]

    def message_json(self, message: dict) -> bytes:
        """A message's JSON, encoded once: message pages are the bulk of a sync's bytes."""
        cached = self._message_json.get(message["id"])
        if cached is None or cached[0] is not message:  # a test may have swapped in a new dict
            cached = self._message_json[message["id"]] = (message, encode_json(message))
        return cached[1]

    def now(self) -> str:
        """A timestamp strictly after everything in the data; each call moves the clock on."""
        return iso_from_ms(self._tick_ms())

    def _tick_ms(self) -> int:
        with self.lock:
            self._clock_ms = max(self._clock_ms + 1, now_ms()) if self._live_clock else self._clock_ms + 1
            return self._clock_ms

    # -- mutations -------------------------------------------------------------------------
    def add_user(self, **fields) -> dict:
        with self.lock:
            moment_ms = self._tick_ms()
            user = self._factory.user(moment_ms, moment_ms)
            user.update(fields)
            self.users[user["id"]] = user
            self.user_conversations[user["id"]] = []
            return user

    def update_user(self, user_id: str, **fields) -> dict:
        with self.lock:
            return self._update(self.users[user_id], fields)

    def delete_user(self, user_id: str) -> dict:
        """Removes the user and its listing; its conversations stay readable by id."""
        with self.lock:
            del self.user_conversations[user_id]
            return self.users.pop(user_id)

    def add_conversation(self, user_id: str, **fields) -> dict:
        """A new conversation of the user, reported as Conversation-Created."""
        with self.lock:
            if user_id not in self.users:
                raise KeyError(f"unknown user {user_id!r}")
            conversation = self._store_conversation(user_id, self._tick_ms())
            conversation.update(fields)
            self._record_created(conversation)
            return conversation

    def update_conversation(self, conversation_id: str, **fields) -> dict:
        """A property-only edit: no event reports it, so only a walk of the conversations sees it."""
        with self.lock:
            return self._update(self.conversations[conversation_id], fields)

    def assign_conversation(self, conversation_id: str, agent_id: Optional[str] = None, group_id: Optional[str] = None) -> dict:
        """Assigns to an agent and/or a group, reported as Conversation-Agent-/Group-Assigned."""
        if agent_id is None and group_id is None:
            raise ValueError("assign_conversation needs an agent_id, a group_id or both")
        with self.lock:
            conversation = self.conversations[conversation_id]
            assigned = {"assigned_agent_id": agent_id, "assigned_group_id": group_id}
            self._update(conversation, {"status": "assigned", **{key: value for key, value in assigned.items() if value is not None}})
            self._record_assignment(conversation, conversation["updated_time"], "", agent_id, group_id)
            return conversation

    def resolve_conversation(
        self, conversation_id: str, label: Optional[str] = None, csat: Optional[int] = None, sub_label: str = "", csat_response: str = ""
    ) -> dict:
        """Resolves now: Conversation-Resolved and Resolution-Time, plus Resolution-Label and CSAT-Score when given."""
        with self.lock:
            conversation = self._update(self.conversations[conversation_id], {"status": "resolved"})
            moment = conversation["updated_time"]
            self._record_resolution(
                conversation,
                moment,
                None if label is None else (label, sub_label),
                None if csat is None else (csat, csat_response),
                csat_time=moment,
            )
            return conversation

    def set_agent_status(self, agent_id: str, status: str) -> dict:
        """Changes an agent's availability_status, reported as Agent-Activity."""
        with self.lock:
            agent = next(agent for agent in self.agents if agent["id"] == agent_id)
            previous = agent["availability_status"]
            self._update(agent, {"availability_status": status})
            self._record("Agent-Activity", agent["updated_time"], agent_id=agent_id, status=status, previous_status=previous)
            return agent

    def delete_conversation(self, conversation_id: str, keep_in_listing: bool = False) -> dict:
        """keep_in_listing=True models a deletion between a user's listing and the detail fetch."""
        with self.lock:
            conversation = self.conversations.pop(conversation_id)
            for message in self.messages.pop(conversation_id):
                self._message_json.pop(message["id"], None)
            if not keep_in_listing:
                for listing in self.user_conversations.values():
                    while conversation_id in listing:
                        listing.remove(conversation_id)
            return conversation

    def add_message(self, conversation_id: str, actor_type: Optional[str] = None, **fields) -> dict:
        """Appends the conversation's newest message, from actor_type or the next actor of the rotation.

        Reported as Chat-Transcript, and for an agent also as Message-Sent, Response-Time and
        First-Response-Time where they apply. Bumps the conversation's updated_time if the
        behaviour says so.
        """
        with self.lock:
            conversation = self.conversations[conversation_id]
            thread = self.messages[conversation_id]
            message = self._factory.message(conversation, self._tick_ms(), thread, self.agents, actor_type)
            message.update(fields)
            thread.append(message)
            self._record_message(conversation, thread, len(thread) - 1)
            if self._message_bumps_conversation():
                conversation["updated_time"] = message["created_time"]
            return message

    def _update(self, record: dict, fields: dict) -> dict:
        """Applies fields and moves updated_time to the clock unless the caller set it."""
        record.update(fields)
        if "updated_time" not in fields:
            record["updated_time"] = iso_from_ms(self._tick_ms())
        return record


def _halfway(earlier: str, later: str) -> str:
    return iso_from_ms((ms_from_iso(earlier) + ms_from_iso(later)) // 2)


def _other_status(status: str) -> str:
    return AGENT_STATUSES[1] if status == AGENT_STATUSES[0] else AGENT_STATUSES[0]


def _reply_context(thread: list[dict], index: int) -> tuple[Optional[str], bool]:
    """For thread[index]: since when a user has waited for an answer (None: nobody waits), and
    whether an agent spoke before."""
    waiting_since = None
    for earlier in map(thread.__getitem__, range(index - 1, -1, -1)):
        if earlier["actor_type"] == "agent":
            return waiting_since, True
        if earlier["actor_type"] == "user":
            waiting_since = earlier["created_time"]
    return waiting_since, False
