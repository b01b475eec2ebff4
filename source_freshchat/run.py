import sys

from airbyte_cdk.entrypoint import launch

from .source import SourceFreshchat


def run() -> None:
    launch(SourceFreshchat(), sys.argv[1:])
