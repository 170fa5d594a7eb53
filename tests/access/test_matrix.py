"""The DMP authorisation matrix: the packaged data file, its provenance, the lookups, the loader."""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from carnet.access import matrix
from carnet.access.matrix import MatrixFileError, load_matrix, may_read, profession_key
from tests.paths import TERMINOLOGY_DIR

DATA_DIR = Path(matrix.__file__).parent / "data"
MATRIX_CSV = DATA_DIR / "matrix.csv"
MATRIX_SOURCES = DATA_DIR / "MATRIX_SOURCES.md"

# The 12 columns of the seed's table, read as profession keys (MATRIX_SOURCES.md §2).
SEED_COLUMNS_LEGIBLE = (
    "10",
    "21/biologiste",
    "21/officine",
    "40",
    "50",
    "60",
    "69",
    "70",
    "80",
    "91",
    "92",
    "94",
    "95",
    "96",
)
SEED_COLUMNS_UNCERTAIN = ("26", "28", "81", "82", "83", "84", "85", "98")

DENTIST_EXCLUSIONS = ("80788-3", "75496-0", "83981-1", "83901-9", "68599-0")
NURSE_EXCLUSIONS = ("75496-0", "68599-0", "83901-9", "68817-6", "89601-9")
NURSE_NAMED_INCLUSIONS = (
    "DOCPAT03",
    "DOCPAT05",
    "DOCPAT06",
    "11502-2",
    "15507-7",
    "56445-0",
    "PROT_ALD",
)
INFERRED_NOTE = "Case déduite des sources publiques"


def _terminology(name: str) -> list[dict[str, str]]:
    with (TERMINOLOGY_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _document_types() -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in _terminology("document-types.csv")}


def _professional(key: str) -> dict[str, str]:
    """Arguments that make `profession_key` land on this column."""
    if key.startswith("21/"):
        section = next(s for s, k in matrix.PHARMACIST_SECTION_COLUMNS.items() if k == key)
        return {"profession_code": "21", "pharmacist_section": section}
    code, _, specialty = key.partition("/")
    return {"profession_code": code, "specialty": specialty}


def test_packaged_matrix_loads_once_with_the_documented_columns():
    first = matrix.default_matrix()

    assert matrix.default_matrix() is first
    assert matrix.default_matrix.cache_info().misses == 1
    assert matrix.professions() == SEED_COLUMNS_LEGIBLE + SEED_COLUMNS_UNCERTAIN
    assert len(matrix.type_codes()) == 102
    assert len(matrix.matrix_rows()) == 102


def test_matrix_rows_are_exactly_the_dmp_type_codes():
    document_types = _document_types()
    dmp_codes = {c for c, row in document_types.items() if row["in_JDV_J66_TypeCode_DMP"] == "yes"}

    assert set(matrix.type_codes()) == dmp_codes
    for row in matrix.matrix_rows():
        assert row.class_code == document_types[row.type_code]["class_code"], row.type_code
        assert row.display == document_types[row.type_code]["display"], row.type_code


def test_every_type_code_of_the_matrix_exists_in_document_types():
    unknown = set(matrix.type_codes()) - set(_document_types())

    assert unknown == set()


def test_profession_columns_are_known_codes_and_sections():
    g15 = {
        r["code"] for r in _terminology("professions-g15.csv") if r["table"].startswith("TRE_G15")
    }
    roles = {r["code"] for r in _terminology("professions-non-ps.csv")}
    sections = {r["section_code"] for r in _terminology("pharmacist-sections-g05.csv")}

    # Role codes (J48) may become columns later: they must never be mistaken for G15 codes.
    assert g15.isdisjoint(roles)
    for key in matrix.professions():
        assert key.partition("/")[0] in g15, key
    assert set(matrix.PHARMACIST_SECTION_COLUMNS) <= sections
    assert {"B", "C", "E", "M"}.isdisjoint(matrix.PHARMACIST_SECTION_COLUMNS)


def test_every_cell_is_yes_or_no_with_its_provenance_documented():
    with MATRIX_CSV.open(encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    documented = MATRIX_SOURCES.read_text(encoding="utf-8")

    for record in raw:
        for key in matrix.professions():
            assert record[key] in {"O", "N", "O?", "N?"}, (record["type_code"], key)
    for row in matrix.matrix_rows():
        assert len(row.cells) == len(matrix.professions())
        if any(not cell.inferred for cell in row.cells):
            assert row.sources, row.type_code
        if any(cell.inferred for cell in row.cells):
            assert row.inference, row.type_code
        for identifier in row.sources + row.inference:
            assert f"`{identifier}`" in documented, identifier
    pairs = [(c.profession_key, c.type_code) for c in matrix.matrix_cells()]
    assert len(pairs) == len(set(pairs)) == 22 * 102


def test_counts_in_matrix_sources_match_the_file():
    documented = MATRIX_SOURCES.read_text(encoding="utf-8")
    cells = matrix.matrix_cells()
    sourced = sum(not c.inferred for c in cells)

    assert re.search(rf"\| sourced \(O, N\) \| {sourced} \|", documented)
    assert re.search(rf"\| inferred \(O\?, N\?\) \| {len(cells) - sourced} \|", documented)


def test_may_read_agrees_with_every_cell_of_the_matrix():
    mismatches = []
    for cell in matrix.matrix_cells():
        answer = may_read(type_code=cell.type_code, **_professional(cell.profession_key))
        display = matrix.default_matrix().row(cell.type_code)
        assert display is not None
        verb = "autorise" if cell.allowed else "n'autorise pas"
        expected_reason = f"La matrice d'habilitations {verb} "
        if (
            (answer.allowed, answer.inferred) != (cell.allowed, cell.inferred)
            or not answer.reason.startswith(expected_reason)
            or f"« {display.display} »" not in answer.reason
            or (INFERRED_NOTE in answer.reason) != cell.inferred
        ):
            mismatches.append((cell, answer))

    assert mismatches == []


def test_medecin_reads_every_document_but_the_residence_certificate():
    for type_code in matrix.type_codes():
        answer = may_read("10", type_code)

        assert answer.allowed is (type_code != "ATTEST-RESID"), type_code
        assert answer.inferred is False, type_code
    assert may_read("10", "ATTEST-RESID").reason == (
        "La matrice d'habilitations n'autorise pas les médecins "
        "à lire « Attestation de résidence »."
    )


def test_no_profession_reads_what_medecins_may_not():
    for row in matrix.matrix_rows():
        cells = {c.profession_key: c for c in row.cells}
        if not cells["10"].allowed:
            assert not any(c.allowed for c in row.cells), row.type_code


@pytest.mark.parametrize("type_code", DENTIST_EXCLUSIONS)
def test_dentists_are_refused_the_documents_the_2023_summaries_exclude(type_code):
    answer = may_read("40", type_code)

    assert answer.allowed is False
    assert answer.inferred is False
    assert "n'autorise pas les chirurgiens-dentistes" in answer.reason


@pytest.mark.parametrize("type_code", NURSE_EXCLUSIONS)
def test_nurses_are_refused_the_documents_the_2023_summaries_exclude(type_code):
    answer = may_read("60", type_code)

    assert answer.allowed is False
    assert answer.inferred is False


@pytest.mark.parametrize("type_code", NURSE_NAMED_INCLUSIONS)
def test_nurses_read_the_documents_the_2023_summaries_name(type_code):
    answer = may_read("60", type_code)

    assert answer.allowed is True
    assert answer.inferred is False


def test_nurse_refusal_reason_names_profession_and_document():
    assert may_read("60", "68599-0").reason == (
        "La matrice d'habilitations n'autorise pas les infirmiers "
        "à lire « Synthèse psychiatrique »."
    )


def test_inferred_cells_say_so_in_the_reason():
    inferred = may_read("70", "SYNTH")
    sourced = may_read("70", "60591-5")

    assert (inferred.allowed, inferred.inferred) == (True, True)
    assert INFERRED_NOTE in inferred.reason
    assert (sourced.allowed, sourced.inferred) == (True, False)
    assert INFERRED_NOTE not in sourced.reason


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("G", "21/biologiste"),
        ("EG", "21/biologiste"),
        ("A", "21/officine"),
        ("D", "21/officine"),
        ("H", "21/officine"),
        (" h ", "21/officine"),
        ("B", None),
        ("C", None),
        ("E", None),
        ("M", None),
        ("FQ01", None),
        ("", None),
        (None, None),
    ],
)
def test_pharmacist_column_follows_the_ordre_section(section, expected):
    assert profession_key("21", pharmacist_section=section) == expected


def test_pharmacists_of_sections_g_and_a_read_a_seed_row_and_section_b_is_refused():
    biologist = may_read("21", "60591-5", pharmacist_section="G")
    officine = may_read("21", "60591-5", pharmacist_section="A")
    industry = may_read("21", "60591-5", pharmacist_section="B")
    no_section = may_read("21", "60591-5")

    assert (biologist.allowed, biologist.inferred) == (True, False)
    assert "pharmaciens biologistes" in biologist.reason
    assert (officine.allowed, officine.inferred) == (True, False)
    assert "pharmaciens d'officine et d'établissement" in officine.reason
    assert industry.allowed is False
    assert industry.reason == (
        "La matrice d'habilitations n'ouvre pas le DMP aux pharmaciens de la section B de l'Ordre."
    )
    assert no_section.allowed is False
    assert "sans section" in no_section.reason


@pytest.mark.parametrize(
    "profession_code",
    [
        "99",  # not a profession
        "93",  # psychologue (J48 role): no column until the official table gives one
        "35",  # aide-soignant: reached as a role, whose matrix is not known
        "32",  # physicien médical: in no source table
        "",
        "10/SM26",  # a key is not a profession code
        "G15_10",
    ],
)
def test_unknown_profession_is_refused_by_default(profession_code):
    answer = may_read(profession_code, "60591-5")

    assert answer.allowed is False
    assert answer.reason == "Profession inconnue de la matrice : accès refusé par défaut."


@pytest.mark.parametrize(
    "type_code",
    ["77429-4", "PIECE-IDENTITE", "FEUILLE-DE-STYLE", "not a code", "", "synth"],
)
def test_unknown_document_type_is_refused_by_default(type_code):
    answer = may_read("10", type_code)

    assert answer.allowed is False
    assert answer.reason == "Type de document inconnu de la matrice : accès refusé par défaut."


def test_seed_rows_are_readable_by_every_column_the_seed_lists():
    partial = _terminology("access-matrix-partial.csv")
    codes = {row["type_code"] for row in partial if row["type_code"]}
    # The seed prints 11526-1, still a DMP code, besides its current J07 code 60568-3.
    codes |= {row["seed_code_as_printed"] for row in partial} & set(matrix.type_codes())
    unmapped = [row["seed_code_as_printed"] for row in partial if not row["type_code"]]

    assert len(partial) == 29
    assert unmapped == ["77429-4"]
    assert "77429-4" not in matrix.type_codes()
    assert len(codes) == 29
    for type_code in codes:
        row = matrix.default_matrix().row(type_code)
        assert row is not None, type_code
        assert "SEED002" in row.sources
        for cell in row.cells:
            assert cell.allowed, (type_code, cell.profession_key)
            assert cell.inferred is (cell.profession_key in SEED_COLUMNS_UNCERTAIN)


def test_specialty_and_replacement_file_need_no_code_change(tmp_path):
    replacement = tmp_path / "matrix.csv"
    replacement.write_text(
        "\ufefftype_code,class_code,display,10,10/SM26,21/officine,sources,inference\n"
        "60591-5,11,Synthèse médicale,O,N,O ,ARR2023-ANNEXE,\n"
        "SYNTH,11,Synthèse,O,O,N,ARR2023-ANNEXE,\n",
        encoding="utf-8",
    )

    table = load_matrix(replacement)

    assert table.professions() == ("10", "10/SM26", "21/officine")
    assert table.type_codes() == ("60591-5", "SYNTH")
    assert table.profession_key("10") == "10"
    assert table.profession_key("10", specialty="SM26") == "10/SM26"
    assert table.profession_key("10", specialty="G15_10/SM26") == "10/SM26"
    assert table.profession_key("10", specialty="SM54") == "10"
    assert table.may_read("10", "60591-5").allowed is True
    assert table.may_read("10", "60591-5", specialty="SM26").allowed is False
    assert table.may_read("21", "SYNTH", pharmacist_section="A").allowed is False
    assert table.may_read("21", "SYNTH", pharmacist_section="G").allowed is False
    assert not any(cell.inferred for cell in table.cells())
    # The packaged matrix has no specialty column: the plain médecin column applies.
    assert profession_key("10", specialty="SM26") == "10"


def _packaged_lines() -> list[list[str]]:
    with MATRIX_CSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[:4]


def _write(path: Path, lines: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _set(line: int, column: str, value: str) -> Callable[[list[list[str]]], None]:
    def change(lines: list[list[str]]) -> None:
        lines[line - 1][lines[0].index(column)] = value

    return change


def _drop_column(column: str) -> Callable[[list[list[str]]], None]:
    def change(lines: list[list[str]]) -> None:
        index = lines[0].index(column)
        for line in lines:
            del line[index]

    return change


def _duplicate_row(lines: list[list[str]]) -> None:
    lines.append(list(lines[1]))


def _short_row(lines: list[list[str]]) -> None:
    del lines[2][-1]


def _blank_line(lines: list[list[str]]) -> None:
    lines.insert(2, [])


def _header_only(lines: list[list[str]]) -> None:
    del lines[1:]


@pytest.mark.parametrize(
    ("corrupt", "line", "problem"),
    [
        (_set(3, "60", "X"), 3, "column '60': cell 'X' is not one of O, N, O?, N?"),
        (_set(3, "60", "oui"), 3, "cell 'oui' is not one of"),
        (_set(2, "21/officine", ""), 2, "cell '' is not one of"),
        (_duplicate_row, 5, "duplicate type code 'BIL_AUTO' (first at line 2)"),
        (_drop_column("sources"), 1, "missing column(s): sources"),
        (_drop_column("type_code"), 1, "missing column(s): type_code"),
        (_short_row, 3, "26 fields where the header has 27"),
        (_blank_line, 3, "empty line"),
        (_set(1, "60", "infirmier"), 1, "unknown column 'infirmier'"),
        (_set(1, "60", "10"), 1, "duplicate column '10'"),
        (_set(1, "21/officine", "21"), 1, "pharmacist column '21'"),
        (_set(2, "type_code", "BIL AUTO"), 2, "malformed type code 'BIL AUTO'"),
        (_set(2, "class_code", "X1"), 2, "malformed class code 'X1'"),
        (_set(2, "display", ""), 2, "empty display"),
        (_set(2, "sources", ""), 2, "BIL_AUTO: O/N cells but no sources"),
        (_set(2, "inference", ""), 2, "inferred cells (O?/N?) but no inference rule"),
        (_set(2, "sources", "seed 002"), 2, "malformed sources identifier 'seed'"),
        (_header_only, None, "the file has a header but no document type"),
    ],
)
def test_malformed_replacement_file_is_refused_naming_the_problem(tmp_path, corrupt, line, problem):
    path = tmp_path / "matrix.csv"
    lines = _packaged_lines()
    corrupt(lines)
    _write(path, lines)

    with pytest.raises(MatrixFileError) as raised:
        load_matrix(path)

    assert raised.value.line == line
    assert problem in str(raised.value)
    assert str(path) in str(raised.value)


def test_replacement_file_with_inferred_cells_but_no_inferred_rule_is_refused(tmp_path):
    path = tmp_path / "matrix.csv"
    lines = _packaged_lines()
    # A row transcribed from the official table keeps a stale inference rule.
    for key in matrix.professions():
        lines[1][lines[0].index(key)] = "O"
    _write(path, lines)

    with pytest.raises(MatrixFileError, match="line 2: BIL_AUTO: inference rules but no inferred"):
        load_matrix(path)


@pytest.mark.parametrize(
    ("body", "encoding", "problem"),
    [
        ("", "utf-8", "the file is empty"),
        ("\nBIL_AUTO,10,CR de bilan d'évaluation", "latin-1", "the file is not UTF-8 text"),
        ('\n"BIL"AUTO,10', "utf-8", "line 2: malformed CSV"),
    ],
)
def test_unreadable_replacement_file_is_refused(tmp_path, body, encoding, problem):
    path = tmp_path / "matrix.csv"
    header = ",".join(_packaged_lines()[0]) if body else ""
    path.write_bytes((header + body).encode(encoding))

    with pytest.raises(MatrixFileError, match=re.escape(problem)):
        load_matrix(path)


def test_missing_replacement_file_is_refused(tmp_path):
    with pytest.raises(MatrixFileError, match="cannot read the file"):
        load_matrix(tmp_path / "absent.csv")


def test_matrix_module_uses_the_standard_library_only():
    tree = ast.parse(Path(matrix.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }

    assert imported <= {
        "__future__",
        "collections",
        "csv",
        "dataclasses",
        "functools",
        "importlib",
        "io",
        "pathlib",
        "re",
        "types",
        "typing",
    }
