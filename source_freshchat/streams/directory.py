"""Small account-wide lists that share Freshchat's paged envelope. Each is read in full on every sync."""

from ..base import FreshchatListStream


class Agents(FreshchatListStream):
    """GET /v2/agents. More than 50 agents span several pages."""

    endpoint = data_key = "agents"


class Groups(FreshchatListStream):
    """GET /v2/groups."""

    endpoint = data_key = "groups"


class Channels(FreshchatListStream):
    """GET /v2/channels, called "topics" in the Freshchat UI."""

    endpoint = data_key = "channels"


class Roles(FreshchatListStream):
    """GET /v2/roles."""

    endpoint = data_key = "roles"
