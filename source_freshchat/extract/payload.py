"""Reading a downloaded report: ZIP archives of CSV files (or a plain CSV), row by row, never held in memory.

Header names differ between events and accounts, so they are normalised (`Conversation ID` -> `conversation_id`) and
unknown columns are kept. Pure functions over a file: no HTTP here.
"""

import csv
import io
import re
import zipfile
from typing import IO, Dict, Iterator, List, Optional

Row = Dict[str, Optional[str]]

# A pasted log can make one message_parts field far larger than the csv module's default limit of 128 kB; memory bounds
# it. 2**31 - 1 is the largest limit a C long holds on every platform (sys.maxsize overflows it on Windows).
csv.field_size_limit(2**31 - 1)


def normalise_column(name: str) -> str:
    """`Conversation ID`, `conversation-id` and `conversation_id` all read as `conversation_id`."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def report_rows(payload: IO[bytes]) -> Iterator[Row]:
    """Rows of a downloaded report: every CSV file of a ZIP archive in turn, or a plain CSV."""
    payload.seek(0)
    if payload.read(4) != b"PK\x03\x04":
        payload.seek(0)
        yield from csv_rows(payload)
        return
    payload.seek(0)
    with zipfile.ZipFile(payload) as archive:
        members = [member for member in archive.infolist() if not member.is_dir()]
        csv_members = [member for member in members if member.filename.lower().endswith(".csv")] or members
        for member in csv_members:
            with archive.open(member) as raw:
                yield from csv_rows(raw)


def csv_rows(raw: IO[bytes]) -> Iterator[Row]:
    """Rows of one CSV file, streamed; a UTF-8 BOM is dropped, empty fields read as None."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        columns = unique_columns([normalise_column(name) for name in header])
        for values in reader:
            if not any(values):
                continue  # a blank line, e.g. at the end of a file
            row: Row = {column: value if value != "" else None for column, value in zip(columns, values)}
            for extra, value in enumerate(values[len(columns) :], start=1):
                row[f"extra_column_{extra}"] = value
            yield row
    finally:
        text.detach()  # the caller closes the file it opened


def unique_columns(columns: List[str]) -> List[str]:
    """Two headers that normalise alike (`Agent ID`, `agent_id`) keep both values: the second gets a suffix."""
    seen: Dict[str, int] = {}
    unique = []
    for column in columns:
        column = column or "column"
        seen[column] = seen.get(column, 0) + 1
        unique.append(column if seen[column] == 1 else f"{column}_{seen[column]}")
    return unique
