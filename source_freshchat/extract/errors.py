"""The one error of the Extract API client: a report this sync cannot have, raised by the job queue and the downloads."""

from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class ReportError(AirbyteTracedException):
    """A report this sync cannot have.

    `refused`: the account does not offer it (no Extract API, or not this event). `quota`: Freshchat's quota on creating
    reports is used up for longer than `report_quota_wait_minutes`; a later sync can have it.
    """

    def __init__(self, message: str, refused: bool = False, quota: bool = False) -> None:
        super().__init__(message=message, internal_message=message)
        self.refused = refused
        self.quota = quota
