"""Reading campaign files: one SIM per line, or CSV with a header; streamed, never held whole.

A file is read twice, both times in bounded pieces: a first pass picks the encoding (and refuses
what is not text), a second yields one `SourceRow` per non-blank line. Whatever a line holds,
it becomes a row, valid or with the `problem` that makes it invalid; only a file that cannot be
read as a campaign file at all raises `SourceError`. docs/campaigns.md ("Campaign files,
validation and reports") gives the rules and the reasons for them.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, NamedTuple, TextIO

from simops.core.iccids import ICCID_LENGTHS, ICCID_LIKE_LENGTHS, luhn_valid
from simops.core.sim import SID_PATTERN

MAX_LINE_CHARS = 4096
"""Longer lines are invalid rows: no SID, ICCID or unique name comes close to this."""

SHOWN_CHARS = 64
"""How much of an over-long line its row keeps as its reference, for the report."""

SCAN_CHUNK_BYTES = 1 << 20
MAX_CONTROL_RATIO = 0.1
"""More control characters than this (tabs and line breaks aside) and a file is not text."""


class SourceError(Exception):
    """The source cannot be read as a campaign's SIMs at all; the message is one line."""


class FileSourceError(SourceError):
    """A file cannot be read as a campaign file at all: `path` and the `problem`."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def about(self, path: Path) -> str:
        """The message about `path`: the file the user gave, when this one is its copy."""
        return f"{path}: {self.problem}"


class InvalidReferenceError(ValueError):
    """A value cannot be what its column says; the message says why, never echoing an ICCID."""


class ReferenceKind(StrEnum):
    """How a campaign row names its SIM."""

    SID = "sid"
    ICCID = "iccid"
    UNIQUE_NAME = "unique_name"


class ColumnRole(StrEnum):
    """What a header column holds."""

    SIM = "sim"
    FLEET = "fleet"
    UNIQUE_NAME = "unique_name"


COLUMN_ROLES: dict[str, ColumnRole] = {
    "sim": ColumnRole.SIM,
    "sim_sid": ColumnRole.SIM,
    "sid": ColumnRole.SIM,
    "iccid": ColumnRole.SIM,
    "reference": ColumnRole.SIM,
    "fleet": ColumnRole.FLEET,
    "fleet_sid": ColumnRole.FLEET,
    "unique_name": ColumnRole.UNIQUE_NAME,
}
"""Known header names, in order of preference when several name the same role.

`simops sims list --output csv` writes `sid`, `unique_name`, `fleet_sid`, `iccid`…: such an
export is a campaign file as it is, read by its `sid` column.
"""

DELIMITERS = (",", ";", "\t")
"""Comma, and the semicolon and tab that spreadsheets in many locales write instead."""

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""Byte-order marks and their codecs; UTF-32 LE first, since its mark starts like UTF-16 LE's."""

CONTROL_CODES = [code for code in range(32) if code not in (9, 10, 13)]
CONTROL_BYTES = bytes(CONTROL_CODES)
CONTROL_CHARS = dict.fromkeys(CONTROL_CODES)

HS_LIKE = re.compile(r"^HS[0-9a-fA-F]{20,}$")
SCIENTIFIC = re.compile(r"^\d(?:[.,]\d+)?[eE]\+?\d+$")
SEPARATED_DIGITS = re.compile(r"^\d[\d \-]*\d$")


class SourceRow(NamedTuple):
    """One non-blank data line of a campaign file (or one SIM a filter listed).

    `row_no` counts data rows from 1, blank lines and the header excluded: it is the row's
    number in the report. `line_no` is the line in the file, for a person looking at it (none
    for a filter). `problem`, when set, makes the row invalid; `kind` is `None` when the
    reference is malformed. A row copied from an earlier campaign (a rollback's, a retry's)
    keeps the number it has in that campaign's report as `source_row_no`, which its report
    shows, while `row_no` numbers the rows of this campaign without gaps.
    """

    row_no: int
    reference: str
    fleet: str | None = None
    unique_name: str | None = None
    problem: str | None = None
    kind: ReferenceKind | None = None
    line_no: int | None = None
    source_row_no: int | None = None


@dataclass(frozen=True)
class SourceLayout:
    """Where the columns are: a headerless file is one SIM per line."""

    delimiter: str
    header: tuple[str, ...] | None
    sim_column: int = 0
    fleet_column: int | None = None
    unique_name_column: int | None = None

    @property
    def width(self) -> int:
        """How many cells a row may have (trailing empty ones aside)."""
        return len(self.header) if self.header is not None else 1


HEADERLESS = SourceLayout(delimiter=",", header=None)


def _has_control_chars(text: str) -> bool:
    if text.isprintable():
        return False
    return any(unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") for char in text)


def check_text(text: str, what: str) -> None:
    """Refuse control characters and line separators (they are never part of a name)."""
    if _has_control_chars(text):
        raise InvalidReferenceError(f"{what} contains control characters")


def classify_reference(text: str) -> ReferenceKind:
    """What kind of SIM reference `text` (already stripped) is, or `InvalidReferenceError`.

    A Sim SID is `HS` and 32 hex digits. 18 to 22 ASCII digits are an ICCID, valid with 19 or
    20 digits and a correct Luhn check digit. Anything else printable is a unique name.
    """
    if not text:
        raise InvalidReferenceError("empty SIM reference")
    sid = SID_PATTERN.match(text)
    if sid is not None:
        prefix = sid.group("prefix")
        if prefix == "HS":
            return ReferenceKind.SID
        raise InvalidReferenceError(f"{prefix}… is not a Sim SID (Sim SIDs start with HS)")
    if HS_LIKE.match(text):
        raise InvalidReferenceError(
            f"malformed Sim SID: HS and {len(text) - 2} hex digits, a Sim SID has 32"
        )
    if text.isascii() and text.isdigit() and len(text) in ICCID_LIKE_LENGTHS:
        if len(text) not in ICCID_LENGTHS:
            raise InvalidReferenceError(f"an ICCID has 19 or 20 digits, this one {len(text)}")
        if not luhn_valid(text):
            raise InvalidReferenceError(
                "the ICCID's check digit (Luhn) is wrong: a digit is mistyped"
            )
        return ReferenceKind.ICCID
    if SCIENTIFIC.match(text):
        raise InvalidReferenceError(
            "a number in scientific notation: a spreadsheet rounded the ICCID; format the "
            "column as text and export again"
        )
    if SEPARATED_DIGITS.match(text) and sum(c.isdigit() for c in text) in ICCID_LIKE_LENGTHS:
        raise InvalidReferenceError("an ICCID with spaces or dashes: write its digits only")
    check_text(text, "the unique name")
    return ReferenceKind.UNIQUE_NAME


def check_new_unique_name(text: str) -> None:
    """Refuse a unique name a SIM cannot be given (`InvalidReferenceError`)."""
    check_text(text, "the new unique name")
    if SID_PATTERN.match(text):
        raise InvalidReferenceError("the new unique name has the shape of a SID")
    if text.isascii() and text.isdigit() and len(text) in ICCID_LIKE_LENGTHS:
        raise InvalidReferenceError("the new unique name would be read as an ICCID")


def _open_binary(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise FileSourceError(path, "no such file") from None
    except IsADirectoryError:
        raise FileSourceError(path, "is a directory, not a file") from None
    except PermissionError:
        raise FileSourceError(path, "permission denied") from None
    except OSError as error:
        raise FileSourceError(path, f"cannot be read ({error.strerror})") from None


def _check_control_ratio(path: Path, controls: int, total: int) -> None:
    if controls > total * MAX_CONTROL_RATIO:
        raise FileSourceError(path, "looks like a binary file, not a list of SIMs")


def _check_marked(stream: BinaryIO, path: Path, codec: str) -> None:
    """Decode the whole file strictly with the codec its byte-order mark names."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    controls = total = 0
    try:
        while chunk := stream.read(SCAN_CHUNK_BYTES):
            text = decoder.decode(chunk)
            if "\x00" in text:
                raise FileSourceError(path, "contains NUL characters, not a list of SIMs")
            controls += len(text) - len(text.translate(CONTROL_CHARS))
            total += len(text)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise FileSourceError(path, f"has a {codec} byte-order mark but is not {codec}") from error
    _check_control_ratio(path, controls, total)


def _guess_unmarked(stream: BinaryIO, path: Path) -> str:
    """UTF-8 when the whole file is UTF-8, else Windows-1252, else Latin-1 (never fails)."""
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_ok = cp1252_ok = True
    controls = total = 0
    while chunk := stream.read(SCAN_CHUNK_BYTES):
        if b"\x00" in chunk:
            raise FileSourceError(
                path,
                "contains NUL bytes: a binary file, or UTF-16 without a byte-order "
                "mark (save it as UTF-8)",
            )
        controls += len(chunk) - len(chunk.translate(None, CONTROL_BYTES))
        total += len(chunk)
        if utf8_ok:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                utf8_ok = False
        if cp1252_ok:
            try:
                chunk.decode("cp1252")
            except UnicodeDecodeError:
                cp1252_ok = False
    _check_control_ratio(path, controls, total)
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "cp1252" if cp1252_ok else "latin-1"


def detect_encoding(path: Path) -> str:
    """The codec a campaign file is read with; `SourceError` for what is not text."""
    with _open_binary(path) as stream:
        head = stream.read(4)
        if not head:
            raise FileSourceError(path, "is empty")
        stream.seek(0)
        codec = next((codec for mark, codec in BOMS if head.startswith(mark)), None)
        if codec is None:
            return _guess_unmarked(stream, path)
        _check_marked(stream, path, codec)
        return codec


def _clean(cell: str) -> str:
    # A byte-order mark inside the text (two exported files concatenated) is not content.
    return cell.replace("\ufeff", "").strip()


def _split(line: str, delimiter: str) -> list[str]:
    """The cells of one line, cleaned; `csv.Error` for bad quoting."""
    # Without quotes CSV is a plain split, several times faster than a csv.reader per line.
    cells = (
        line.split(delimiter)
        if '"' not in line
        else next(csv.reader([line], delimiter=delimiter, strict=True))
    )
    return [_clean(cell) for cell in cells]


def _header_name(cell: str) -> str:
    return cell.lower().replace(" ", "_").replace("-", "_")


def _column_of(names: list[str], role: ColumnRole, path: Path) -> int | None:
    """The preferred column for `role`; two columns with that very name are an error."""
    for name in (name for name, named in COLUMN_ROLES.items() if named is role):
        if names.count(name) > 1:
            raise FileSourceError(path, f"the header names column {name!r} twice")
        if name in names:
            return names.index(name)
    return None


def header_layout(line: str, path: Path) -> SourceLayout | None:
    """The layout a header line describes, or `None` when the line is not a header."""
    best: tuple[int, str, list[str]] | None = None
    for delimiter in DELIMITERS:
        try:
            names = [_header_name(cell) for cell in _split(line, delimiter)]
        except csv.Error:
            continue
        known = sum(name in COLUMN_ROLES for name in names)
        if known and (best is None or known > best[0]):
            best = (known, delimiter, names)
    if best is None:
        return None
    _, delimiter, names = best
    sim_column = _column_of(names, ColumnRole.SIM, path)
    if sim_column is None:
        raise FileSourceError(
            path, "the header has no SIM column (one of sim, sim_sid, sid, iccid, reference)"
        )
    return SourceLayout(
        delimiter=delimiter,
        header=tuple(names),
        sim_column=sim_column,
        fleet_column=_column_of(names, ColumnRole.FLEET, path),
        unique_name_column=_column_of(names, ColumnRole.UNIQUE_NAME, path),
    )


class _Line(NamedTuple):
    line_no: int
    text: str
    too_long: bool


def _is_blank(line: _Line) -> bool:
    """Nothing but white space and delimiters: skipped, and not counted as a row."""
    return not line.too_long and not _clean(line.text).strip("".join(DELIMITERS) + ' "')


def _cell(cells: list[str], column: int | None) -> str | None:
    if column is None or column >= len(cells):
        return None
    return cells[column] or None


def _parse_cells(line: _Line, layout: SourceLayout) -> list[str] | str:
    """The cells of a data line, or the problem that makes it invalid."""
    try:
        cells = _split(line.text, layout.delimiter)
    except csv.Error as error:
        return f"malformed CSV line: {error}"
    extra = [cell for cell in cells[layout.width :] if cell]
    if extra and layout.header is None:
        return "several columns but no header line (add one, e.g. sim,fleet)"
    if extra:
        return f"{len(cells)} cells, the header has {layout.width}"
    if layout.header is None and cells and any(mark in cells[0] for mark in DELIMITERS[1:]):
        return "several columns but no header line (add one, e.g. sim;fleet)"
    return cells


def _row(row_no: int, line: _Line, layout: SourceLayout) -> SourceRow | None:
    """The row of a data line; `None` for a blank one."""
    if line.too_long:
        return SourceRow(
            row_no=row_no,
            line_no=line.line_no,
            reference=line.text[:SHOWN_CHARS] + "…",
            problem=f"line too long (more than {MAX_LINE_CHARS} characters)",
        )
    cells = _parse_cells(line, layout)
    if isinstance(cells, str):
        return SourceRow(
            row_no=row_no,
            line_no=line.line_no,
            reference=line.text.strip()[:SHOWN_CHARS],
            problem=cells,
        )
    if not any(cells):
        return None
    reference = _cell(cells, layout.sim_column) or ""
    fleet = _cell(cells, layout.fleet_column)
    unique_name = _cell(cells, layout.unique_name_column)
    kind: ReferenceKind | None = None
    problem: str | None = None
    try:
        kind = classify_reference(reference)
        if fleet is not None:
            check_text(fleet, "the Fleet")
        if unique_name is not None:
            check_new_unique_name(unique_name)
    except InvalidReferenceError as error:
        problem = str(error)
    return SourceRow(
        row_no=row_no,
        line_no=line.line_no,
        reference=reference,
        fleet=fleet,
        unique_name=unique_name,
        kind=kind,
        problem=problem,
    )


class CampaignFile:
    """A campaign file whose encoding and layout are known; iterating it yields its rows."""

    def __init__(self, path: Path, encoding: str, layout: SourceLayout) -> None:
        self.path = path
        self.encoding = encoding
        self.layout = layout

    @classmethod
    def open(cls, path: Path) -> CampaignFile:
        """Check the file and find its layout; `SourceError` when it has no row to read."""
        encoding = detect_encoding(path)
        probe = cls(path, encoding, HEADERLESS)
        lines = probe._lines()
        first = next((line for line in lines if not _is_blank(line)), None)
        lines.close()
        if first is None:
            raise FileSourceError(path, "has no rows (only blank lines)")
        layout = None if first.too_long else header_layout(first.text, path)
        opened = cls(path, encoding, layout or HEADERLESS)
        rows = iter(opened)
        first_row = next(rows, None)
        rows.close()
        if first_row is None:
            raise FileSourceError(path, "has a header line but no rows")
        return opened

    def _text(self) -> TextIO:
        try:
            return self.path.open(encoding=self.encoding, errors="strict", newline=None)
        except OSError as error:
            raise FileSourceError(self.path, f"cannot be read ({error.strerror})") from None

    def _lines(self) -> Generator[_Line]:
        """Every line, CR, LF and CRLF alike; over-long ones are cut, never held whole."""
        line_no = 0
        with self._text() as stream:
            try:
                while chunk := stream.readline(MAX_LINE_CHARS + 1):
                    line_no += 1
                    if chunk.endswith("\n") or len(chunk) <= MAX_LINE_CHARS:
                        yield _Line(line_no, chunk.removesuffix("\n"), too_long=False)
                        continue
                    rest = chunk
                    while rest and not rest.endswith("\n"):
                        rest = stream.readline(SCAN_CHUNK_BYTES)
                    yield _Line(line_no, chunk, too_long=True)
            except UnicodeDecodeError as error:
                raise FileSourceError(
                    self.path, f"line {line_no + 1} is not {self.encoding} (changed while read?)"
                ) from error

    def __iter__(self) -> Generator[SourceRow]:
        lines = self._lines()
        if self.layout.header is not None:
            next((line for line in lines if not _is_blank(line)), None)
        row_no = 0
        for line in lines:
            row = _row(row_no + 1, line, self.layout)
            if row is not None:
                row_no += 1
                yield row


def iter_source_rows(path: Path) -> Iterator[SourceRow]:
    """Every row of a campaign file, streamed; `SourceError` (at once) if it cannot be read."""
    return iter(CampaignFile.open(path))
