from ..base import FreshchatStream


class Account(FreshchatStream):
    """The account's configuration: GET /v2/accounts/configuration, a bare object and the cheapest credential probe."""

    primary_key = "account_id"
    endpoint = "accounts/configuration"
