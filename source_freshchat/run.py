import sys
from typing import Any, List, Mapping

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import ConnectorSpecification
from airbyte_cdk.sources import Source

from .config import parse_settings
from .source import SourceFreshchat


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


def run() -> None:
    launch(SourceFreshchat(), sys.argv[1:])
