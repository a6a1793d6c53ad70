"""Input readers: formats, encodings, line numbers, bounded memory, and never raising."""

from __future__ import annotations

import codecs
import functools
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.core.errors import InputError
from runner.intake.inputs import MAX_LINE_CHARS, RAW_LIMIT, SNIFF_BYTES, InvalidRow, Row, read_rows
from runner.intake.numbers import InvalidNumber, PhoneFormat, Reason, format_number


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def rows(path: Path, name_column: str | None = None) -> list[Row | InvalidRow]:
    return list(read_rows(path, "phoneNumber", name_column))


def reasons(found: list[Row | InvalidRow]) -> list[tuple[int, str]]:
    """(line, slug) of each invalid row."""
    return [(r.line, r.reason.split(":")[0]) for r in found if isinstance(r, InvalidRow)]


# ---------------------------------------------------------------- csv


def test_csv_with_name_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.csv",
        'id,phoneNumber,name\n1,98765 43210, Asha Rao \n2,"+91 (98765) 43211",\n3,9.18E+11,Bo\n',
    )
    assert rows(path, "name") == [
        Row(2, "9876543210", "Asha Rao"),
        Row(3, "+919876543211", None),
        InvalidRow(
            4,
            "9.18E+11",
            "scientific_notation: 9.18E+11 looks like Excel scientific notation; "
            "format the column as text",
        ),
    ]


def test_csv_without_name_column_ignores_names(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "name,phoneNumber\nAsha,9876543210\n")
    assert rows(path) == [Row(2, "9876543210", None)]


CSV_TEXT = "phoneNumber,name\n9876543210,Zoë €uro\n"
EXPECTED = [Row(2, "9876543210", "Zoë €uro")]


@pytest.mark.parametrize(
    "encoded",
    [
        CSV_TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + CSV_TEXT.encode("utf-8"),
        CSV_TEXT.encode("utf-16"),  # with BOM, native order
        codecs.BOM_UTF16_LE + CSV_TEXT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + CSV_TEXT.encode("utf-16-be"),
        CSV_TEXT.encode("cp1252"),
    ],
    ids=["utf-8", "utf-8 BOM", "utf-16", "utf-16-le BOM", "utf-16-be BOM", "cp1252"],
)
def test_csv_encodings(tmp_path: Path, encoded: bytes) -> None:
    assert rows(write(tmp_path, "x.csv", encoded), "name") == EXPECTED


def test_cp1252_is_chosen_on_the_first_64_kib_only(tmp_path: Path) -> None:
    """Late bad bytes do not stop the load: they become U+FFFD in that row."""
    filler = "9876543210,ok\n" * 5000  # > 64 KiB of valid UTF-8
    path = write(
        tmp_path, "x.csv", b"phoneNumber,name\n" + filler.encode() + b"9876543211,Jos\xe9\n"
    )
    found = rows(path, "name")
    assert len(found) == 5001
    assert found[-1] == Row(5002, "9876543211", "Jos\ufffd")


def test_csv_crlf_blank_lines_and_physical_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "\r\nphoneNumber\r\n9876543210\r\n\r\n  \r\n9876543211\r\n")
    assert rows(path) == [Row(3, "9876543210", None), Row(6, "9876543211", None)]


def test_cr_only_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "phoneNumber\r9876543210\r\r9876543211")
    assert rows(path) == [Row(2, "9876543210", None), Row(4, "9876543211", None)]


def test_csv_header_is_matched_after_stripping_spaces_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "\ufeff phoneNumber , name \n9876543210,A\n")
    assert rows(path, "name") == [Row(2, "9876543210", "A")]


@pytest.mark.parametrize(
    ("header", "name_column", "missing", "hint"),
    [
        ("a,b", None, "phoneNumber", "(columns: a, b)"),
        ("phonenumber,name", None, "phoneNumber", "(columns: phonenumber, name)"),
        ("phoneNumber,b", "name", "name", "(columns: phoneNumber, b)"),
        ("phoneNumber;name", None, "phoneNumber", "the file must be comma-separated"),
    ],
)
def test_csv_header_without_the_column(
    tmp_path: Path, header: str, name_column: str | None, missing: str, hint: str
) -> None:
    path = write(tmp_path, "x.csv", f"{header}\n9876543210,x\n")
    with pytest.raises(InputError) as caught:
        read_rows(path, "phoneNumber", name_column)  # raised at once, before iterating
    assert str(caught.value).startswith(f"{path}:1: no column '{missing}' ")
    assert hint in str(caught.value)


def test_empty_csv_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty file"):
        read_rows(write(tmp_path, "x.csv", "\n \n"), "phoneNumber", None)


def test_csv_short_row_and_stray_quote(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.csv",
        'name,phoneNumber\nAsha\n"Bo,9876543210\nCy,"9876543211\nDee,9876543212\n,\n',
    )
    found = rows(path)
    assert reasons(found) == [(2, "missing_field"), (3, "missing_field"), (6, "empty")]
    assert [r for r in found if isinstance(r, Row)] == [
        Row(4, "9876543211", None),
        Row(5, "9876543212", None),  # the stray quotes swallowed nothing
    ]
    assert found[0] == InvalidRow(2, "Asha", "missing_field: 1 of the 2 fields needed")


# ---------------------------------------------------------------- txt


def test_txt_comments_blank_lines_and_invalid_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.txt",
        "# nightly list\n\n 98765-43210 \n   # indented comment\nabc\n+91 98765 43211",
    )
    assert rows(path) == [
        Row(3, "9876543210", None),
        InvalidRow(5, "abc", "not_a_number: unexpected character 'a'"),
        Row(6, "+919876543211", None),
    ]


# ---------------------------------------------------------------- jsonl


def test_jsonl_values(tmp_path: Path) -> None:
    lines = [
        '{"phoneNumber": "98765 43210", "name": " A "}',
        '{"phoneNumber": 9876543211, "name": null}',
        '{"phoneNumber": 9.18e11}',
        '{"phoneNumber": true}',
        '{"phoneNumber": null}',
        '{"phoneNumber": ["9876543210"]}',
        '{"phoneNumber": "9876543212", "name": {"first": "A"}}',
        "not json",
        "[1, 2]",
        '"9876543210"',
        '{"phone": "9876543210"}',
        "",
        "[" * 100_000 + "]" * 100_000,
    ]
    found = rows(write(tmp_path, "x.jsonl", "\n".join(lines) + "\n"), "name")
    assert found[:2] == [Row(1, "9876543210", "A"), Row(2, "9876543211", None)]
    assert reasons(found) == [
        (3, "wrong_type"),
        (4, "wrong_type"),
        (5, "empty"),
        (6, "wrong_type"),
        (7, "wrong_type"),
        (8, "bad_json"),
        (9, "not_an_object"),
        (10, "not_an_object"),
        (11, "missing_field"),
        (13, "line_too_long"),
    ]
    assert found[2] == InvalidRow(
        3,
        "918000000000.0",
        "wrong_type: 'phoneNumber' is a JSON non-integer number; write it as a string",
    )


def test_deeply_nested_json_is_a_bad_row(tmp_path: Path) -> None:
    found = rows(write(tmp_path, "x.jsonl", "[" * 50_000 + "\n"))
    assert reasons(found) == [(1, "bad_json")]


# ---------------------------------------------------------------- phone formats


def test_formatter_gets_the_cleaned_number(tmp_path: Path) -> None:
    seen: list[str] = []

    def formatter(cleaned: str) -> str:
        seen.append(cleaned)
        return f"<{cleaned}>"

    path = write(tmp_path, "x.csv", "phoneNumber,name\n+91 (98765) 43210,A\nabc,B\n")
    found = list(read_rows(path, "phoneNumber", "name", formatter))
    assert found[0] == Row(2, "<+919876543210>", "A")
    assert reasons(found) == [(3, "not_a_number")]  # cleaning rejects before formatting
    assert seen == ["+919876543210"]


def test_a_number_the_formatter_rejects_is_an_invalid_row_with_the_raw_cell(
    tmp_path: Path,
) -> None:
    def formatter(cleaned: str) -> str:
        raise InvalidNumber(Reason.UNPARSEABLE_NUMBER, f"{cleaned} is no good")

    path = write(tmp_path, "x.jsonl", '{"phoneNumber": "98765 43210", "name": "A"}\n')
    assert list(read_rows(path, "phoneNumber", "name", formatter)) == [
        InvalidRow(1, "98765 43210", "unparseable_number: 9876543210 is no good")
    ]


def test_txt_with_a_job_format(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt", "# list\n098765 43210\n+1 555 123 4567\n12345678901234\n")
    national = functools.partial(format_number, phone_format=PhoneFormat.NATIONAL, region="IN")
    found = list(read_rows(path, "phoneNumber", None, national))
    assert found[0] == Row(2, "9876543210", None)
    assert reasons(found) == [(3, "other_country"), (4, "unparseable_number")]


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("name", ["x.xlsx", "x", "x.csv.gz"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="unknown file type"):
        read_rows(write(tmp_path, name, "9876543210\n"), "phoneNumber", None)


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    assert rows(write(tmp_path, "X.TXT", "9876543210\n")) == [Row(1, "9876543210", None)]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"absent\.csv: cannot open"):
        read_rows(tmp_path / "absent.csv", "phoneNumber", None)
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(InputError, match=r"dir\.txt: not a regular file"):
        read_rows(tmp_path / "dir.txt", "phoneNumber", None)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "looks like an Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003 workbook"),
        (b"phoneNumber\n9876543210\n98765\x0043211\n", "NUL byte at byte 28"),
        (b"\xef\xbb\xbf9876543210\x00\n", "NUL byte at byte 13"),  # a BOM does not excuse it
    ],
)
@pytest.mark.parametrize("suffix", [".csv", ".txt", ".jsonl"])
def test_a_file_that_is_not_text_is_an_input_error(
    tmp_path: Path, content: bytes, problem: str, suffix: str
) -> None:
    path = write(tmp_path, f"data{suffix}", content)
    with pytest.raises(InputError) as caught:
        read_rows(path, "phoneNumber", None)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a text file (")
    assert problem in message
    assert "\x00" not in message and "PK" not in message  # no binary garbage quoted back


def test_the_workbook_message_says_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", b"PK\x03\x04rest-of-zip")
    with pytest.raises(InputError, match=r"data\.csv: not a text file \(it looks like an Excel "
                       r"workbook: save it as CSV\)$"):  # fmt: skip
        read_rows(path, "phoneNumber", None)


def test_utf16_text_with_its_nul_bytes_is_text(tmp_path: Path) -> None:
    for codec in ("utf-16-le", "utf-16-be"):
        bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
        path = write(tmp_path, "u16.txt", bom + "9876543210\n".encode(codec))
        assert rows(path) == [Row(1, "9876543210", None)]


def test_a_nul_byte_past_the_sniffed_head_only_spoils_its_row(tmp_path: Path) -> None:
    filler = "9876543210\n" * (SNIFF_BYTES // 11 + 1)
    path = write(tmp_path, "late.txt", filler + "98765\x0043210\n")
    found = rows(path)
    assert len(found) == filler.count("\n") + 1
    assert reasons(found) == [(len(found), "not_a_number")]


# ---------------------------------------------------------------- long lines


def test_a_multi_megabyte_line_is_skipped_without_holding_it(tmp_path: Path) -> None:
    huge = "9" * 5_000_000
    path = write(tmp_path, "x.csv", f"phoneNumber\n9876543210\n{huge}\r\n9876543211\n{huge}")
    tracemalloc.start()
    try:
        found = rows(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [found[0], found[2]] == [Row(2, "9876543210", None), Row(4, "9876543211", None)]
    assert reasons(found) == [(3, "line_too_long"), (5, "line_too_long")]
    assert all(isinstance(r, Row) or r.raw == "9" * RAW_LIMIT for r in found)
    assert peak < 2_000_000, peak  # the line is 5 MB


@pytest.mark.parametrize("length", [MAX_LINE_CHARS - 2, MAX_LINE_CHARS - 1, MAX_LINE_CHARS])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_line_endings_at_read_boundaries(tmp_path: Path, length: int, ending: str) -> None:
    """A \\r\\n split between two reads is still one line ending."""
    comment = "#" + "x" * (length - 1)
    path = write(tmp_path, "x.txt", f"{comment}{ending}9876543210{ending}")
    assert rows(path) == [Row(2, "9876543210", None)]


def test_longest_allowed_line_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt", "1" * MAX_LINE_CHARS + "\n" + "1" * (MAX_LINE_CHARS + 1))
    assert reasons(rows(path)) == [(1, "too_long"), (2, "line_too_long")]


# ---------------------------------------------------------------- the property

# Pieces that stress the parsers: separators, quotes, commas, JSON punctuation, numbers.
PIECES = st.sampled_from(
    [",", '"', "'", "+", "-", "(", ")", ".", " ", "\t", "#", "{", "}", "[", "]", ":",
     "9876543210", "9.18E+11", '"phoneNumber"', "null", "\x00", "\x85", "\u2028", "é", "😀"]
)  # fmt: skip
TEXT = st.characters(codec="utf-8", exclude_characters="\r\n\ufeff")
LINE = st.lists(st.one_of(PIECES, TEXT, st.text(TEXT, max_size=8)), max_size=12).map("".join)
JSON_LINE = st.fixed_dictionaries(
    {"phoneNumber": st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.none())}
).map(json.dumps)


@st.composite
def file_text(draw: st.DrawFn, suffix: str) -> str:
    """Random lines joined by random line endings, maybe without a final one."""
    one_line = st.one_of(LINE, JSON_LINE) if suffix == ".jsonl" else LINE
    lines = draw(st.lists(one_line, max_size=30))
    endings = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(lines)))
    text = "".join(line + end for line, end in zip(lines, endings, strict=False))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final line ending
    return "phoneNumber,name\n" + text if suffix == ".csv" else text


def expected_lines(text: str, suffix: str) -> list[int]:
    """Line numbers that must yield a row, counted with Python's universal newlines."""
    numbered = enumerate(io.StringIO(text, newline=""), start=1)
    content = [(number, line.rstrip("\r\n").strip()) for number, line in numbered]
    wanted = [number for number, line in content if line]
    if suffix == ".txt":
        wanted = [number for number, line in content if line and not line.startswith("#")]
    return wanted[1:] if suffix == ".csv" else wanted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), suffix=st.sampled_from([".csv", ".txt", ".jsonl"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
       phone_format=st.sampled_from([None, *PhoneFormat]))  # fmt: skip
def test_every_line_yields_exactly_one_row(
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
    suffix: str,
    encoding: str,
    phone_format: PhoneFormat | None,
) -> None:
    text = data.draw(file_text(suffix))
    path = tmp_path_factory.mktemp("property") / f"input{suffix}"
    path.write_bytes(text.encode(encoding))
    formatter = (
        None
        if phone_format is None
        else functools.partial(format_number, phone_format=phone_format, region="IN")
    )

    name_column = "name" if suffix != ".txt" else None
    if "\x00" in text and encoding != "utf-16":  # UTF-16 is the only text with NUL bytes
        with pytest.raises(InputError, match="not a text file"):
            read_rows(path, "phoneNumber", name_column, formatter)
        return
    found = list(read_rows(path, "phoneNumber", name_column, formatter))

    assert [row.line for row in found] == expected_lines(text, suffix)
    assert all(isinstance(row, Row | InvalidRow) for row in found)
    for row in found:
        if isinstance(row, InvalidRow):
            assert len(row.raw) <= RAW_LIMIT
            assert row.reason.split(":")[0].isidentifier()
            assert "\n" not in row.reason
