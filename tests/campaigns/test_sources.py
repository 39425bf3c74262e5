"""Campaign files: encodings, layouts, bad lines and bad files, and fuzzed input."""

from __future__ import annotations

import codecs
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simops.campaigns.sources import (
    MAX_LINE_CHARS,
    CampaignFile,
    InvalidReferenceError,
    ReferenceKind,
    SourceError,
    SourceRow,
    check_new_unique_name,
    classify_reference,
    iter_source_rows,
)
from simops.core.iccids import luhn_check_digit
from simops.emulator.ids import iccid_for

SID = "HS0123456789abcdef0123456789abcdef"
OTHER_SID = "HSfedcba9876543210fedcba9876543210"
ICCID = iccid_for(7)
NINETEEN_DIGITS = "894450010219830482" + luhn_check_digit("894450010219830482")


def write(tmp_path: Path, content: bytes | str, name: str = "sims.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def rows_of(path: Path) -> list[SourceRow]:
    return list(iter_source_rows(path))


def test_csv_with_header_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"sim,fleet,unique_name\r\n{SID},iot-eu,dev-1\r\n\r\n , , \r\n{ICCID},,\r\nsensor 4,,\r\n",
    )

    rows = rows_of(path)

    assert [(row.row_no, row.line_no) for row in rows] == [(1, 2), (2, 5), (3, 6)]
    assert rows[0] == SourceRow(
        row_no=1,
        reference=SID,
        fleet="iot-eu",
        unique_name="dev-1",
        kind=ReferenceKind.SID,
        line_no=2,
    )
    assert (rows[1].kind, rows[1].fleet, rows[1].unique_name) == (ReferenceKind.ICCID, None, None)
    assert (rows[2].reference, rows[2].kind) == ("sensor 4", ReferenceKind.UNIQUE_NAME)
    assert all(row.problem is None for row in rows)


def test_one_sim_per_line_without_header(tmp_path: Path) -> None:
    path = write(tmp_path, f'{SID}\n\n{ICCID}\r\n  dev-7  \n"quoted, name"\n')

    rows = rows_of(path)

    assert [row.reference for row in rows] == [SID, ICCID, "dev-7", "quoted, name"]
    assert CampaignFile.open(path).layout.header is None


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_spreadsheet_delimiters(tmp_path: Path, delimiter: str) -> None:
    path = write(tmp_path, f"SIM{delimiter}Fleet\n{SID}{delimiter}lab\n")

    (row,) = rows_of(path)

    assert (row.reference, row.fleet, row.problem) == (SID, "lab", None)


def test_sims_list_export_is_read_by_its_sid_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sid,unique_name,status,fleet_sid,iccid,account_sid\n"
        f"{SID},,new,,{ICCID},AC0123456789abcdef0123456789abcdef\n",
    )

    (row,) = rows_of(path)

    assert (row.reference, row.kind, row.fleet, row.unique_name) == (
        SID,
        ReferenceKind.SID,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
    ],
)
def test_byte_order_marks(tmp_path: Path, encoding: str, bom: bytes) -> None:
    text = f"sim,unique_name\r\n{SID},café-1\r\n{ICCID},\r\n"
    path = write(tmp_path, bom + text.encode(encoding))

    rows = rows_of(path)

    assert [(row.reference, row.unique_name) for row in rows] == [
        (SID, "café-1"),
        (ICCID, None),
    ]


def test_utf8_without_bom_and_the_windows_1252_fallback(tmp_path: Path) -> None:
    utf8 = write(tmp_path, "Zoë\n€uro\n".encode(), "utf8.txt")
    windows = write(tmp_path, "Zoë\n€uro\n".encode("cp1252"), "cp1252.txt")
    latin = write(tmp_path, b"x\x81y\n", "latin1.txt")

    assert [row.reference for row in rows_of(utf8)] == ["Zoë", "€uro"]
    assert [row.reference for row in rows_of(windows)] == ["Zoë", "€uro"]
    assert CampaignFile.open(windows).encoding == "cp1252"
    (row,) = rows_of(latin)
    assert CampaignFile.open(latin).encoding == "latin-1"
    assert row.problem == "the unique name contains control characters"


def test_a_byte_order_mark_inside_the_text_is_not_content(tmp_path: Path) -> None:
    path = write(tmp_path, f"\ufeffsim\n{SID}\n\ufeff{OTHER_SID}\n")

    assert [row.reference for row in rows_of(path)] == [SID, OTHER_SID]


def test_an_over_long_line_is_an_invalid_row_and_reading_goes_on(tmp_path: Path) -> None:
    path = write(tmp_path, f"{SID}\n{'x' * (MAX_LINE_CHARS + 1)}\n{'y' * MAX_LINE_CHARS}\n{ICCID}")

    rows = rows_of(path)

    assert len(rows) == 4
    assert rows[1].problem == f"line too long (more than {MAX_LINE_CHARS} characters)"
    assert rows[1].reference.startswith("xxxx") and len(rows[1].reference) < 100
    assert rows[2].problem is None and rows[3].reference == ICCID


def test_a_huge_line_is_never_held_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("w") as out:
        out.write(SID + "\n")
        for _ in range(64):
            out.write("z" * 131_072)
        out.write("\n" + ICCID + "\n")

    tracemalloc.start()
    try:
        rows = rows_of(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [row.problem is not None for row in rows] == [False, True, False]
    assert peak < 4 * 1024 * 1024, "an 8 MiB line must be read in pieces"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"{SID},lab,name,extra", "4 cells, the header has 3"),
        (f'"{SID}', "malformed CSV line: unexpected end of data"),
        (",lab,", "empty SIM reference"),
        (f"{SID},lab\x07,", "the Fleet contains control characters"),
        (f"{SID},,{OTHER_SID}", "the new unique name has the shape of a SID"),
        (f"{SID},,{ICCID}", "the new unique name would be read as an ICCID"),
    ],
)
def test_bad_cells_make_the_row_invalid(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path, f"sim,fleet,unique_name\n{line}\n{SID},,\n")

    first, second = rows_of(path)

    assert first.problem == problem
    assert second.problem is None


def test_several_columns_without_a_header(tmp_path: Path) -> None:
    path = write(tmp_path, f"{SID},lab\n{SID};lab\n{ICCID},,\n")

    rows = rows_of(path)

    assert [row.problem for row in rows] == [
        "several columns but no header line (add one, e.g. sim,fleet)",
        "several columns but no header line (add one, e.g. sim;fleet)",
        None,
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n \r\n,,\n", "has no rows (only blank lines)"),
        (b"sim,fleet\n\n", "has a header line but no rows"),
        (b"fleet,unique_name\nlab,x\n", "the header has no SIM column"),
        (b"sim,fleet,fleet\nx,y,z\n", "the header names column 'fleet' twice"),
        (b"HS1\x00\x00\x01", "contains NUL bytes"),
        (codecs.BOM_UTF16_LE + b"s\x00i", "has a utf-16 byte-order mark but is not utf-16"),
        (bytes(range(1, 9)) * 20 + b"\n", "looks like a binary file"),
    ],
)
def test_unreadable_files_raise_one_line_source_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = write(tmp_path, content)

    with pytest.raises(SourceError) as raised:
        iter_source_rows(path)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_files_and_directories_raise_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        iter_source_rows(tmp_path / "missing.csv")
    with pytest.raises(SourceError, match="is a directory"):
        iter_source_rows(tmp_path)


@pytest.mark.parametrize(
    ("reference", "kind"),
    [
        (SID, ReferenceKind.SID),
        (ICCID, ReferenceKind.ICCID),
        (NINETEEN_DIGITS, ReferenceKind.ICCID),
        ("dev-1", ReferenceKind.UNIQUE_NAME),
        ("12345", ReferenceKind.UNIQUE_NAME),
        ("hs0123456789abcdef0123456789abcdef", ReferenceKind.UNIQUE_NAME),
        ("HSBC", ReferenceKind.UNIQUE_NAME),
        ("Zoë's tracker", ReferenceKind.UNIQUE_NAME),
    ],
)
def test_classify_valid_references(reference: str, kind: ReferenceKind) -> None:
    assert classify_reference(reference) is kind


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("", "empty SIM reference"),
        ("HF0123456789abcdef0123456789abcdef", "HF… is not a Sim SID"),
        ("HS0123456789abcdef0123456789abcde", "malformed Sim SID: HS and 31 hex digits"),
        (ICCID[:-1] + str((int(ICCID[-1]) + 1) % 10), "check digit (Luhn) is wrong"),
        ("898830700000000000", "an ICCID has 19 or 20 digits, this one 18"),
        ("8988307000000000000007", "an ICCID has 19 or 20 digits, this one 22"),
        ("8.98831E+19", "scientific notation"),
        ("8988 3070 0000 0000 0078", "an ICCID with spaces or dashes"),
        ("dev\t1", "the unique name contains control characters"),
        ("dev\u20281", "the unique name contains control characters"),
    ],
)
def test_classify_invalid_references(reference: str, problem: str) -> None:
    with pytest.raises(
        InvalidReferenceError, match=problem.replace("(", r"\(").replace(")", r"\)")
    ):
        classify_reference(reference)


def test_invalid_reference_messages_never_echo_an_iccid() -> None:
    bad = ICCID[:-1] + str((int(ICCID[-1]) + 1) % 10)
    for reference in (bad, ICCID[:18], ICCID + "00"):
        with pytest.raises(InvalidReferenceError) as raised:
            classify_reference(reference)
        assert ICCID[:10] not in str(raised.value)


def test_new_unique_names() -> None:
    check_new_unique_name("dev-1")
    for bad in (SID, ICCID, "a\nb"):
        with pytest.raises(InvalidReferenceError):
            check_new_unique_name(bad)


REFERENCES = st.one_of(
    st.just(SID),
    st.integers(0, 10**6).map(iccid_for),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.from_regex(r"\A[0-9]{15,23}\Z"),
    st.from_regex(r"\A[A-Z]{2}[0-9a-f]{28,34}\Z"),
    st.sampled_from(["", " ", ",", ";", '"', '"a', 'a"b', "\ufeff", "\x00", "\r"]),
    st.text(min_size=MAX_LINE_CHARS - 2, max_size=MAX_LINE_CHARS + 3, alphabet="ab"),
)
ENCODINGS = st.sampled_from(
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("cp1252", b""),
    ]
)


def _check_accounting(path: Path) -> list[SourceRow] | None:
    """Read a file: a clean SourceError, or rows numbered 1..N, each valid or with a problem."""
    try:
        rows = list(iter_source_rows(path))
    except SourceError as error:
        assert str(error) and "\n" not in str(error)
        return None
    assert [row.row_no for row in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        assert row.problem is not None or row.kind is not None
        assert len(row.reference) <= MAX_LINE_CHARS + 1
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzzed_bytes_are_a_source_error_or_accounted_rows(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "bytes.csv"
    path.write_bytes(content)

    _check_accounting(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.sampled_from(["", "sim\n", "iccid,fleet\n", "SID;unique_name\n", "notes,sim\n"]),
    references=st.lists(REFERENCES, max_size=25),
    blank_every=st.integers(0, 4),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=ENCODINGS,
)
def test_fuzzed_campaign_files_keep_every_line(
    tmp_path_factory: pytest.TempPathFactory,
    header: str,
    references: list[str],
    blank_every: int,
    newline: str,
    encoding: tuple[str, bytes],
) -> None:
    codec, bom = encoding
    lines: list[str] = []
    for index, reference in enumerate(references):
        if blank_every and index % blank_every == 0:
            lines.append("")
        lines.append(reference.replace("\n", " ").replace("\r", " "))
    text = header.replace("\n", newline) + newline.join(lines) + newline
    try:
        content = bom + text.encode(codec)
    except UnicodeEncodeError:
        return
    path = tmp_path_factory.mktemp("fuzz") / "campaign.csv"
    path.write_bytes(content)

    rows = _check_accounting(path)

    if rows is not None:
        # A line with a letter or digit is never blank; only a headerless file's first line
        # can be taken for a header.
        with_content = sum(any(char.isalnum() for char in line) for line in lines)
        assert with_content - (0 if header else 1) <= len(rows) <= len(references)
        valid = [row for row in rows if row.problem is None]
        assert all(row.reference and row.reference.strip() == row.reference for row in valid)
