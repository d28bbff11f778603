"""Reading input files into validated, columnar tables (no Neo4j here).

Every reader checks the whole file before anything is written: a fault raises `InputError` naming the
file and the 1-based line (text files) or row (Parquet, .npy id lists). Text is decoded as strict UTF-8;
`.gz` files are decompressed transparently. Parsing is columnar (pyarrow / pandas), with no Python loop
over rows.
"""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from kgtag.errors import first_line

from .errors import InputError

TRIPLE_COLUMNS = ("head", "relation", "tail")
MAX_ID = 2000  # characters in an id or relation name: Neo4j cannot index a value over ~8 KB (UTF-8)
MAX_BLOCK = 1 << 30  # pyarrow block size cap (an int32); a longer line is refused, naming it
# A gzip file may unpack to at most MAX_GZIP_RATIO times its size once past GZIP_FREE bytes (text
# tables compress 3-20x; a 1 MB file of 1 GB blank lines is 1000x): larger is refused as a gzip bomb.
MAX_GZIP_RATIO = 200
GZIP_FREE = 64 << 20
# C0 controls, DEL and C1 controls: refused in ids, relation names and text properties at ingest,
# printed escaped by the CLI. A terminal obeys ESC / CSI sequences (clear screen, set title, ...).
CONTROL = "[\\x00-\\x1f\\x7f-\\x9f]"
CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x09: "TAB", 0x0A: "LF", 0x0D: "CR", 0x1B: "ESC",
                 0x7F: "DEL", 0x9B: "CSI", 0x9D: "OSC"}


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (by `.gz` name or magic bytes)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, None, "is a directory, not a file") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror}") from None
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, path)
    return data


def _gunzip(data: bytes, path) -> bytes:
    """All gzip members of `data`, unpacked in chunks so that a bomb stops at the limit, not in swap."""
    limit = max(GZIP_FREE, MAX_GZIP_RATIO * len(data))
    parts, size, rest = [], 0, data
    try:
        while rest:
            unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while rest:
                part = unpack.decompress(rest, 1 << 24)
                rest = unpack.unconsumed_tail
                size += len(part)
                if size > limit:
                    raise InputError(path, None, f"gzip data unpacks to more than {limit >> 20:,} MB "
                                                 f"({MAX_GZIP_RATIO}x its {len(data):,} bytes, the most accepted); "
                                                 "unpack it yourself if it is real data")
                parts.append(part)
                if unpack.eof:
                    break
            if not unpack.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            rest = unpack.unused_data.lstrip(b"\0")  # another member follows (cat a.gz b.gz)
            if rest and rest[:2] != b"\x1f\x8b":
                break  # trailing garbage: ignored, as gzip(1) does
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, None, f"broken gzip data ({exc})") from None
    return b"".join(parts)


def describe_control(ch: str) -> str:
    """`U+001B (ESC)`: how a message names a control character."""
    name = CONTROL_NAMES.get(ord(ch))
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def control_rows(values) -> np.ndarray:
    """Positions of the strings in `values` that hold a control character (vectorised, RE2)."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(np.asarray(values, dtype=object), pa.string())
    return np.flatnonzero(pc.match_substring_regex(array, CONTROL).fill_null(False).to_numpy(zero_copy_only=False))


def first_control(text: str) -> str | None:
    """The first control character of `text`, or None."""
    found = re.search(CONTROL, text)
    return found.group() if found else None


def check_names(values, lines, path, what: str, unit: str = "line") -> None:
    """No empty, over-long or control-character name among `values` (ids, relation names: stripped
    strings, as a pyarrow array or a sequence); `lines` aligned with them. InputError at the first
    fault, naming its line. All in Arrow compute kernels."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(np.asarray(values, dtype=object), pa.string())
    lines = np.asarray(lines)
    if not len(array):
        return
    lengths = pc.utf8_length(array.fill_null("")).to_numpy(zero_copy_only=False)
    if (empty := np.flatnonzero(lengths == 0)).size:
        raise InputError(path, int(lines[empty[0]]), f"empty {what} ({empty.size} {unit}s with an empty {what} in this file)")
    if (long := np.flatnonzero(lengths > MAX_ID)).size:
        raise InputError(path, int(lines[long[0]]), f"{what} of {int(lengths[long[0]]):,} characters; "
                                                    f"at most {MAX_ID:,} fit Neo4j's index (a long text belongs in a property)")
    if (bad := control_rows(array)).size:
        value = array[int(bad[0])].as_py()
        raise InputError(path, int(lines[bad[0]]), f"{what} {shorten(value)} holds the control character "
                                                   f"{describe_control(first_control(value))}; ids and names must be printable text")


def check_utf8(data: bytes, path) -> bytes:
    """`data` without a UTF-8 byte-order mark; InputError at the line of the first invalid byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None
    return data


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".tsv", ".txt", ".tab", ""):
        return "tsv"
    if ext == ".csv":
        return "csv"
    if ext in (".parquet", ".pq"):
        return "parquet"
    raise InputError(path, None, f"unknown triple file type {ext!r}: use .tsv/.txt, .csv or .parquet (optionally .gz)")


def read_triples(path: str | Path) -> pd.DataFrame:
    """A validated triple table: columns head, relation, tail (stripped str) and line (int64).

    TSV/TXT (tab separated, no quoting), CSV (comma, double quotes) or Parquet, optionally gzipped.
    A first line `head, relation, tail` is taken as a header. Blank lines are skipped.
    """
    path = Path(path)
    fmt = _format(path)
    if fmt == "parquet":
        return _read_parquet_triples(path)
    data = check_utf8(read_bytes(path), path)
    bad: list[tuple[int, int]] = []

    def on_invalid(row) -> str:
        bad.append((row.number, row.actual_columns))
        return "skip"

    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            # one block for the whole file (it is in memory already): a long but valid line never
            # straddles pyarrow's default 1 MB blocks
            read_options=pcsv.ReadOptions(column_names=list(TRIPLE_COLUMNS), use_threads=False,
                                          block_size=min(max(len(data), 1 << 20), MAX_BLOCK)),
            parse_options=pcsv.ParseOptions(
                delimiter="\t" if fmt == "tsv" else ",",
                quote_char=False if fmt == "tsv" else '"',
                ignore_empty_lines=False,  # keeps row i on line i + 1
                newlines_in_values=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in TRIPLE_COLUMNS},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except MemoryError:  # pyarrow's ArrowMemoryError too
        raise InputError(path, None, f"too large to read in memory ({len(data):,} bytes unpacked)") from None
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):  # only past MAX_BLOCK: name the line and the limit
            line = _first_line_longer(data, MAX_BLOCK)
            raise InputError(path, line, f"line longer than {MAX_BLOCK >> 20} MB, the most a line may hold") from None
        raise InputError(path, None, f"cannot parse as {fmt.upper()}: {exc}") from None
    if bad:
        line, got = bad[0]
        more = f" (and {len(bad) - 1} more bad lines)" if len(bad) > 1 else ""
        sep = "tab" if fmt == "tsv" else "comma"
        raise InputError(path, line, f"expected 3 {sep}-separated columns (head, relation, tail), found {got}{more}")
    arrays = {c: pc.utf8_trim_whitespace(table[c]) for c in TRIPLE_COLUMNS}
    columns = {c: arrays[c].to_numpy(zero_copy_only=False).astype(object) for c in TRIPLE_COLUMNS}
    frame = pd.DataFrame(columns)
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    if len(frame) and [str(v).lower() for v in frame.iloc[0, :3]] == list(TRIPLE_COLUMNS):
        frame = frame.iloc[1:]
    blank = (frame["head"] == "") & (frame["relation"] == "") & (frame["tail"] == "")
    frame = frame[~blank.to_numpy()]
    _check_not_empty(frame, path, "line", arrays)
    return frame.reset_index(drop=True)


def _first_line_longer(data: bytes, limit: int) -> int | None:
    """1-based number of the first line longer than `limit` bytes."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    lengths = np.diff(np.concatenate([[-1], ends, [len(data)]])) - 1
    long = np.flatnonzero(lengths > limit)
    return int(long[0]) + 1 if len(long) else None


def _read_parquet_triples(path: Path) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(read_bytes(path)))
        have = parquet.schema_arrow.names
        names = list(TRIPLE_COLUMNS) if set(TRIPLE_COLUMNS) <= set(have) else None
        if names is None:
            if len(have) != 3:
                raise InputError(path, None, f"expected columns head, relation, tail; found {column_list(have)}")
            names = have
        table = parquet.read(columns=names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, None, f"not a readable Parquet file ({first_line(exc, 300)})") from None
    columns, arrays = {}, {}
    for want, have in zip(TRIPLE_COLUMNS, names):
        col = table[have]
        if pa.types.is_integer(col.type):
            col = col.cast(pa.string())
        elif pa.types.is_large_string(col.type) or pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        if not pa.types.is_string(col.type):
            raise InputError(path, None, f"column {have!r} has type {col.type}; expected strings")
        col = pc.utf8_trim_whitespace(col.fill_null(""))
        arrays[want] = col
        columns[want] = col.to_numpy(zero_copy_only=False).astype(object)
    frame = pd.DataFrame(columns)
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    _check_not_empty(frame, path, "row", arrays)
    return frame


def _check_not_empty(frame: pd.DataFrame, path, unit: str, arrays: dict) -> None:
    """No empty, over-long or control-character id or relation name (the first one found is named
    with its line). `arrays`: the file's trimmed Arrow columns, all rows (line i is row i - 1)."""
    rows = pa.array(frame["line"].to_numpy() - 1)
    for column in TRIPLE_COLUMNS:
        what = "relation name" if column == "relation" else f"{column} id"
        check_names(arrays[column].take(rows), frame["line"].to_numpy(), path, what, unit)


def shorten(text: str, most: int = 60) -> str:
    """`repr(text)`, cut to about `most` characters (a 5,000-character name stays one readable line)."""
    return repr(text) if len(text) <= most else repr(text[:most]) + f"... ({len(text):,} characters)"


def check_name(name: str, path, line: int | None, what: str) -> str:
    """One name (a relation from a mapping, an attribute that becomes a relation) under the limits of
    `check_names`; `what` names it in the message (it quotes the name already); returns it."""
    if not name:
        raise InputError(path, line, f"{what} is empty; a relation needs a name")
    if len(name) > MAX_ID:
        raise InputError(path, line, f"{what} has {len(name):,} characters; at most {MAX_ID:,} fit Neo4j's index")
    if ch := first_control(name):
        raise InputError(path, line, f"{what} holds the control character {describe_control(ch)}; "
                                     "names must be printable text")
    return name


def column_list(names, shown: int = 8) -> str:
    """A file's column names for a one-line message: the first few and how many there are."""
    names = list(names)
    more = f", ... ({len(names):,} columns)" if len(names) > shown else ""
    return "[" + ", ".join(repr(n) for n in names[:shown]) + more + "]"
