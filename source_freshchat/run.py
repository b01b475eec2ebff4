import logging
import os
import signal
import sys
from typing import Any, List, Mapping

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import ConnectorSpecification, FailureType
from airbyte_cdk.sources import Source
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import diagnose
from .config import parse_settings
from .source import SourceFreshchat

CANCELLED_EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM
CANCELLED_MESSAGE = "The sync was cancelled (SIGTERM) and stopped before it finished; the state emitted so far is kept."

logger = logging.getLogger("airbyte")


class FreshchatEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, except that a config refused by `check` names the field at fault.

    The CDK's spec check, which runs first, names only the offending value.
    """

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        parse_settings(config)
        AirbyteEntrypoint.validate_connection(source_spec, config)


def launch(source: Source, args: List[str]) -> None:
    """`airbyte_cdk.entrypoint.launch`, on FreshchatEntrypoint."""
    entrypoint = FreshchatEntrypoint(source)
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed_args):
            print(f"{message}\n", end="")


def stop_on_sigterm(signal_number: int, frame: Any) -> None:
    """Airbyte cancels a sync with SIGTERM. In a container the connector is PID 1, which the kernel gives no
    default action for SIGTERM, so without this handler it would read on until killed after the grace period.

    It exits at once rather than unwinding: worker threads may be waiting out a rate-limit window or a
    retry backoff, and nothing is lost, since Airbyte resumes from the last state message it received.
    The messages already produced are flushed first, then the log line and an error trace for the cancel.
    """
    try:
        logger.info(f"Received SIGTERM: {CANCELLED_MESSAGE}")
        AirbyteTracedException(message=CANCELLED_MESSAGE, failure_type=FailureType.transient_error).emit_message()
        PRINT_BUFFER.flush()
    finally:
        os._exit(CANCELLED_EXIT_CODE)


def run() -> None:
    if sys.argv[1:2] == ["diagnose"]:  # not an Airbyte command: its own arguments and output
        sys.exit(diagnose.main(sys.argv[2:]))
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    launch(SourceFreshchat(), sys.argv[1:])
