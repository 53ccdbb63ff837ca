"""Flat exports in the encodings real tools write (UTF-8 with or without a byte-order mark,
UTF-16, Windows-1252 / Latin-1 from Excel on Windows), with ``;`` separators and decimal
commas: read correctly, and said how."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.errors import SourceError
from leadscore.flat_csv import how_read, read_flat_csv, sniff_encoding
from leadscore.synthetic.flat_export import generate_flat_export
from leadscore.training.evaluate import EvaluationConfig
from leadscore.training.flat import train_flat_table

ROWS = [
    ("L1", "Société Générale", "Île-de-France", "12,5", "oui"),
    ("L2", "Müller GmbH", "Österreich", "1.234,75", "non"),
    ("L3", "Señor Ñandú", "España", "", "oui"),
    ("L4", "Crédit \u2013 \u201cAgricole\u201d", "Française", "7", "non"),
]


def _text(separator: str) -> str:
    header = separator.join(["lead_id", "société", "région", "montant", "inscrit"])
    return "\n".join([header, *(separator.join(r) for r in ROWS)]) + "\n"


@pytest.mark.parametrize(
    ("encoding", "expected", "said"),
    [
        ("utf-8", "utf-8", "UTF-8, semicolon-separated"),
        ("utf-8-sig", "utf-8-sig", "UTF-8 with a byte-order mark, semicolon-separated"),
        ("utf-16", "utf-16", "UTF-16, semicolon-separated"),
        ("cp1252", "cp1252", "Windows-1252 (Latin-1, Excel's 'CSV'), semicolon-separated"),
    ],
)
def test_semicolon_exports_in_every_encoding_read_the_same(
    tmp_path: Path, encoding: str, expected: str, said: str
) -> None:
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(_text(";").encode(encoding))
    assert sniff_encoding(path) == expected
    frame = read_flat_csv(path)
    assert how_read(frame) == said
    assert list(frame.columns) == ["lead_id", "société", "région", "montant", "inscrit"]
    assert frame["société"].tolist() == [r[1] for r in ROWS]
    assert frame["région"].iloc[1] == "Österreich"
    # decimal commas beside a ';' separator are numbers, thousands dots included
    assert frame["montant"].dtype == np.float64
    assert frame["montant"].tolist()[:2] == [12.5, 1234.75] and np.isnan(frame["montant"][2])


def test_latin1_bytes_windows_1252_leaves_undefined_are_read_as_iso_8859_1(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin1.csv"
    # 0x81 and 0x8d are undefined in Windows-1252: a true ISO-8859-1 file (control characters)
    path.write_bytes(b"name,visits\n" + "Jos\xe9".encode("latin-1") + b"\x81,3\nAnn,4\n")
    assert sniff_encoding(path) == "latin-1"
    frame = read_flat_csv(path)
    assert frame["name"].iloc[0] == "José\x81" and how_read(frame).startswith("ISO-8859-1")


def test_a_utf8_file_with_one_late_latin1_byte_is_not_read_as_utf8(tmp_path: Path) -> None:
    """The whole file decides, not the first 64 KiB: a latin-1 byte after 200 KB."""
    path = tmp_path / "late.csv"
    body = "".join(f"{i},plain text {i}\n" for i in range(20_000))
    path.write_bytes(("id,text\n" + body).encode() + "99999,caf\xe9\n".encode("cp1252"))
    assert path.stat().st_size > 200_000
    assert sniff_encoding(path) == "cp1252"
    assert read_flat_csv(path)["text"].iloc[-1] == "café"


def test_comma_files_keep_decimal_points_and_mixed_text_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    path.write_text('id,amount,code\n1,"12,5",A\n2,3.5,B\n3,4,"1,2,3"\n', encoding="utf-8")
    frame = read_flat_csv(path)
    assert frame["amount"].tolist() == ["12,5", "3.5", "4"]  # ',' separator: no guessing
    semi = tmp_path / "semi.csv"
    semi.write_text("id;ref;amount\n1;AB,12;1,5\n2;7;2\n", encoding="utf-8")
    frame = read_flat_csv(semi)
    assert frame["ref"].tolist() == ["AB,12", "7"] and frame["amount"].tolist() == [1.5, 2.0]


def test_an_undecodable_utf16_file_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\xff\xfe" + "a,b\n1,2\n".encode("utf-16-le") + b"\x00\xd8")  # lone surrogate
    with pytest.raises(SourceError, match="UTF-16"):
        read_flat_csv(path)


def test_training_on_a_windows_1252_semicolon_export_says_how_it_was_read(
    tmp_path: Path,
) -> None:
    export = generate_flat_export(1500, seed=3)
    frame = export.frame.copy()
    frame["region"] = np.where(np.arange(len(frame)) % 3 == 0, "Île-de-France", "Bavière")
    path = tmp_path / "excel.csv"
    frame.to_csv(path, sep=";", index=False, encoding="cp1252", decimal=",")
    result = train_flat_table(
        path,
        export.target,
        export.time_column,
        report_path=tmp_path / "r.html",
        evaluation=EvaluationConfig(n_bootstrap=20),
    )
    said = [n for n in result.notes if n.startswith("Read excel.csv")]
    assert said == [
        f"Read excel.csv: Windows-1252 (Latin-1, Excel's 'CSV'), semicolon-separated, "
        f"{len(frame):,} rows."
    ]
    assert result.frame is not None
    assert set(result.frame["region"]) == {"Île-de-France", "Bavière"}
    reference = pd.read_csv(path, sep=";", encoding="cp1252", decimal=",")
    numeric = [c for c in reference.columns if reference[c].dtype == np.float64]
    assert numeric and all(result.frame[c].dtype == np.float64 for c in numeric)


def test_thousands_dots_of_a_european_export_are_whole_numbers(tmp_path: Path) -> None:
    """``1.153`` employees beside a decimal-comma column is 1,153, not 1.153; ``12.000.000``
    is a number, not text; a ``;`` file without decimal commas keeps ``1.153`` a decimal and
    says so."""
    path = tmp_path / "eu.csv"
    path.write_bytes(
        "id;employés;chiffre;revenu\n1;6;12.000.000;0,50\n2;1.153;850.000;211,53\n3;264;;\n"
        "4;12.500;1.000;7\n".encode("cp1252")
    )
    frame = read_flat_csv(path)
    assert frame["employés"].tolist() == [6.0, 1153.0, 264.0, 12500.0]
    assert frame["chiffre"].tolist()[:2] == [12_000_000.0, 850_000.0]
    assert np.isnan(frame["chiffre"][2]) and frame["chiffre"][3] == 1000.0
    assert frame["revenu"].tolist()[:2] == [0.5, 211.53]
    assert how_read(frame) == "Windows-1252 (Latin-1, Excel's 'CSV'), semicolon-separated"
    plain = tmp_path / "plain.csv"
    plain.write_text("id;ratio;big\n1;1.153;12.000.000\n2;6;3\n", encoding="utf-8")
    frame = read_flat_csv(plain)
    assert frame["ratio"].tolist() == [1.153, 6.0] and frame["big"].tolist() == [12e6, 3.0]
    assert how_read(frame) == (
        "UTF-8, semicolon-separated; 'ratio' holds numbers such as 1.234 (three digits after "
        "the dot): read as decimals; if the dots are thousands separators, re-export without "
        "them"
    )


def test_a_trailing_line_of_separators_is_skipped_and_text_columns_keep_their_zeros(
    tmp_path: Path,
) -> None:
    path = tmp_path / "excel.csv"
    text = "lead_id;montant;converted\r\n00123;1.234,5;1\r\n123;7;0\r\n;;\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    frame = read_flat_csv(path)
    assert len(frame) == 2 and frame["montant"].tolist() == [1234.5, 7.0]
    assert frame["lead_id"].tolist() == [123, 123]  # read as numbers: two leads merge
    assert "1 row(s) with no value at all (only separators) skipped" in how_read(frame)
    kept = read_flat_csv(path, text_columns=["lead_id", "absent"])
    assert kept["lead_id"].tolist() == ["00123", "123"]


def test_ids_excel_wrote_as_1_23e05_are_no_feature_and_still_the_rows_key(
    tmp_path: Path,
) -> None:
    """Excel saves long numeric ids as 1.23E+05: read as numbers they became a feature (the
    model learnt from row ids) and the model had no id column for the scores' output."""
    export = generate_flat_export(1500, seed=3)
    frame = export.frame.copy()
    numbers = frame["lead_id"].str[1:].astype(int) + 100_000
    frame["lead_id"] = [f"{n / 1e5:.2f}E+05" for n in numbers]
    path = tmp_path / "excel.csv"
    frame.to_csv(path, index=False)
    result = train_flat_table(
        path,
        export.target,
        export.time_column,
        report_path=tmp_path / "r.html",
        evaluation=EvaluationConfig(n_bootstrap=20),
    )
    assert "lead_id" not in {f.name for f in result.features}
    assert "Excel's scientific notation" in result.dropped["lead_id"]
    assert result.id_column == "lead_id"
    assert "segment_id" in {f.name for f in result.features}  # a code named like an id stays
