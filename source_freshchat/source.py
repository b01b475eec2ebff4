import logging
from typing import Any, Callable, Iterator, List, Mapping, MutableMapping, Optional, Tuple, TypeVar

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    StreamDescriptor,
    SyncMode,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .config import config_error, parse_settings
from .discovery.plan import Selection
from .rate_limit import FreshchatAPIBudget
from .streams.account import Account
from .streams.conversation_properties import ConversationProperties
from .streams.conversations import Conversations
from .streams.directory import Agents, Channels, Groups, Roles
from .streams.messages import Messages
from .streams.outbound_messages import OutboundMessages
from .streams.reports import report_streams
from .streams.users import Users
from .sync import Sync

T = TypeVar("T")


def _read_input_file(read: Callable[[str], T], path: str, kind: str, expected: str) -> T:
    """The CDK reports an unreadable input file as "Something went wrong"; say which file and what it should hold."""
    try:
        return read(path)
    except OSError as error:
        raise config_error(f"Cannot read the {kind} file {path}: {error.strerror or error}.") from None
    except Exception as error:  # JSON, shape and protocol-model errors all mean the same thing to the user
        raise config_error(f"The {kind} file {path} is not {expected}: {str(error)[:300]}") from None


CHECK_RETRIES = 2  # a connection test should answer in seconds, not wait out a full sync's retry budget


class SourceFreshchat(AbstractSource):
    # config.py validates the config itself, naming the field at fault; the CDK's spec check would only name the value.
    check_config_against_spec = False
    # A catalog naming a stream this source lacks is a configuration mistake to report, not to skip silently.
    raise_exception_on_missing_stream = True

    def __init__(self) -> None:
        super().__init__()
        # The CDK's read() builds its streams through `streams(config)`, so what `read` selected reaches them only from here;
        # empty outside `read`, so that `discover` and `check` plan no reports.
        self._selection: Selection = {}
        self._sync: Optional[Sync] = None  # the sync `streams()` built last: during `read`, the one being read
        self._failure_ends_sync = False

    @staticmethod
    def read_config(config_path: str) -> MutableMapping[str, Any]:
        return _read_input_file(AbstractSource.read_config, config_path, "config", 'a JSON object such as {"domain": ..., "api_key": ...}')

    @classmethod
    def read_catalog(cls, catalog_path: str) -> ConfiguredAirbyteCatalog:
        return _read_input_file(super().read_catalog, catalog_path, "catalog", 'a configured catalog: {"streams": [...]}')

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:
        return _read_input_file(super().read_state, state_path, "state", "a list of Airbyte state messages")

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> Tuple[bool, Optional[Any]]:
        settings = parse_settings(config)
        probe = Account(Sync(settings), max_retries=CHECK_RETRIES)
        try:
            account = next(iter(probe.read_records(SyncMode.full_refresh)), None)
        except AirbyteTracedException as error:
            if error.failure_type == FailureType.config_error:
                raise
            raise config_error(f"Could not read the Freshchat account at {settings.origin}: {error.message}") from None
        logger.info(f"Connected to Freshchat account {account.get('account_id') if account else '(unknown)'} at {settings.origin}")
        return True, None

    def streams(self, config: Mapping[str, Any]) -> List[Stream]:
        """The one registry of streams, in the order a sync reads them: parents before the streams that reuse them.

        During `read`, the streams know what the sync selected, so the Extract API jobs of every selected report
        stream and of the change feed are queued before the first stream reads.
        """
        settings = parse_settings(config)
        sync = self._sync = Sync(settings, FreshchatAPIBudget(settings.requests_per_minute), self._selection)
        return [
            Account(sync),
            Users(sync),
            Conversations(sync),
            Messages(sync),
            ConversationProperties(sync),
            Agents(sync),
            Groups(sync),
            Channels(sync),
            Roles(sync),
            OutboundMessages(sync),
            *report_streams(sync),
        ]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        # Read in registry order whatever the catalog's order, so conversations and messages reuse the parents already walked.
        order = {stream.name: position for position, stream in enumerate(self.streams(config))}
        ordered = sorted(catalog.streams, key=lambda configured: order.get(configured.stream.name, len(order)))
        self._failure_ends_sync = False
        states = ConnectorStateManager(state)
        self._selection = {
            configured.stream.name: (configured.sync_mode, states.get_stream_state(configured.stream.name, configured.stream.namespace))
            for configured in ordered
        }
        try:
            for message in super().read(logger, config, ConfiguredAirbyteCatalog(streams=ordered), state):
                error = message.trace.error if message.type == Type.TRACE else None
                if error and error.failure_type == FailureType.config_error and not self._failed_alone(error.stream_descriptor):
                    self._failure_ends_sync = True
                yield message
        finally:
            self._selection = {}  # `discover` and `check` after this read plan no reports

    def _failed_alone(self, stream: Optional[StreamDescriptor]) -> bool:
        return self._sync is not None and stream is not None and stream.name in self._sync.failed_alone

    @property
    def stop_sync_on_stream_failure(self) -> bool:
        # A wrong key or host fails every stream alike: stop at the first instead of sending requests bound to be refused.
        # A stream refused for want of a permission (403) fails alone; the CDK still ends the sync failed after the others.
        return self._failure_ends_sync
