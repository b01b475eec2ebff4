from ..base import FreshchatStream
from ..errors import FORBIDDEN_MESSAGE


class Account(FreshchatStream):
    """The account's configuration: GET /v2/accounts/configuration, a bare object and the cheapest credential probe.

    It is the first request of `check` and of a sync, so a 403 here is most likely a valid token on another
    account's or datacenter's host, which every other stream would meet too: its message says so first.
    """

    primary_key = "account_id"
    endpoint = "accounts/configuration"
    forbidden_message = FORBIDDEN_MESSAGE
    forbidden_fails_alone = False
