"""The DMP authorisation matrix ("matrice d'habilitations"): profession × document type → may read.

The matrix is data, not code: it is read from ``data/matrix.csv`` beside this module, whose every
cell says whether it was read from a source or inferred (``data/MATRIX_SOURCES.md`` names the
sources and the inference rules). Entering the official annex of the arrêté of 26 October 2023
means replacing that file; `load_matrix` checks a replacement strictly and names the faulty line.

`carnet.access.policy` consults this module on every decision, so it imports nothing from Django,
does no I/O per lookup (the packaged file is read once, see `default_matrix`) and denies by
default: an unknown profession, a pharmacist whose Ordre section has no column, or a document
type absent from the file is refused.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Final

__all__ = [
    "PHARMACIST_SECTION_COLUMNS",
    "Cell",
    "Matrix",
    "MatrixAnswer",
    "MatrixFileError",
    "MatrixRow",
    "default_matrix",
    "label",
    "load_matrix",
    "matrix_cells",
    "matrix_rows",
    "may_read",
    "profession_key",
    "professions",
    "type_codes",
]

TYPE_CODE: Final = "type_code"
CLASS_CODE: Final = "class_code"
DISPLAY: Final = "display"
SOURCES: Final = "sources"
INFERENCE: Final = "inference"
METADATA_COLUMNS: Final = (TYPE_CODE, CLASS_CODE, DISPLAY, SOURCES, INFERENCE)

# A cell is the decision plus its provenance: a trailing "?" marks an inferred cell, so a
# transcription of the official table is plain O/N and reads as sourced.
_CELL_VALUES: Final[Mapping[str, tuple[bool, bool]]] = MappingProxyType(
    {"O": (True, False), "N": (False, False), "O?": (True, True), "N?": (False, True)}
)

PHARMACIST: Final = "21"
# Footnote (b) of the matrix: pharmacists have two columns according to their Ordre section (CPS
# table G05), biologists on one side, officine and établissement pharmacists on the other; "the
# other pharmacists are not authorised to access the DMP". Sub-sections and overseas sections
# follow their parent section (see MATRIX_SOURCES.md); B, C, E, M and FQxx have no column.
PHARMACIST_SECTION_COLUMNS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "A": "21/officine",
        "D": "21/officine",
        "DA": "21/officine",
        "DM": "21/officine",
        "H": "21/officine",
        "EA": "21/officine",
        "ED": "21/officine",
        "EH": "21/officine",
        "G": "21/biologiste",
        "EG": "21/biologiste",
    }
)

# Profession keys are G15 codes (or, should the official table add them, J48 role codes, which
# never collide with G15 numbers), optionally refined after a slash.
_PROFESSION_CODE = re.compile(r"[0-9]{2,3}")
_PROFESSION_KEY = re.compile(r"[0-9]{2,3}(?:/[A-Za-z0-9_-]+)?")
_TYPE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CLASS_CODE = re.compile(r"[0-9]{2}")
_SECTION = re.compile(r"[A-Z0-9]{1,6}")
_PROVENANCE_ID = re.compile(r"[A-Z][A-Z0-9-]*")

_PACKAGE: Final = "carnet.access"
_PACKAGED_DIR: Final = "data"
_PACKAGED_NAME: Final = "matrix.csv"

# French plural labels for the reasons; a column without a label falls back to its code.
_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "10": "les médecins",
        "21/biologiste": "les pharmaciens biologistes",
        "21/officine": "les pharmaciens d'officine et d'établissement",
        "26": "les audioprothésistes",
        "28": "les opticiens-lunetiers",
        "31": "les assistants dentaires",
        "32": "les physiciens médicaux",
        "35": "les aides-soignants",
        "36": "les ambulanciers",
        "37": "les auxiliaires de puériculture",
        "38": "les préparateurs en pharmacie hospitalière",
        "39": "les préparateurs en pharmacie",
        "40": "les chirurgiens-dentistes",
        "50": "les sages-femmes",
        "60": "les infirmiers",
        "69": "les infirmiers psychiatriques",
        "70": "les masseurs-kinésithérapeutes",
        "80": "les pédicures-podologues",
        "81": "les orthoprothésistes",
        "82": "les podo-orthésistes",
        "83": "les orthopédistes-orthésistes",
        "84": "les ocularistes",
        "85": "les épithésistes",
        "86": "les techniciens de laboratoire médical",
        "91": "les orthophonistes",
        "92": "les orthoptistes",
        "94": "les ergothérapeutes",
        "95": "les diététiciens",
        "96": "les psychomotriciens",
        "98": "les manipulateurs d'électroradiologie médicale",
    }
)

_INFERRED_NOTE: Final = (
    " Case déduite des sources publiques, à confirmer par l'annexe officielle de la matrice."
)
_UNKNOWN_PROFESSION: Final = "Profession inconnue de la matrice : accès refusé par défaut."
_UNKNOWN_TYPE: Final = "Type de document inconnu de la matrice : accès refusé par défaut."


class MatrixFileError(ValueError):
    """A matrix file that cannot be trusted: the message names the file, the line and the fault."""

    def __init__(self, origin: str, line: int | None, problem: str) -> None:
        self.origin = origin
        self.line = line
        self.problem = problem
        where = f"{origin}, line {line}" if line is not None else origin
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class Cell:
    """One (profession key, document type) pair of the matrix."""

    profession_key: str
    type_code: str
    allowed: bool
    inferred: bool


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One document type: its cells in column order and where they come from."""

    type_code: str
    class_code: str
    display: str
    cells: tuple[Cell, ...]
    sources: tuple[str, ...]
    inference: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class MatrixAnswer:
    """May this profession read this document type? `reason` is French, for traces and screens."""

    allowed: bool
    inferred: bool
    reason: str


class Matrix:
    """A validated matrix. Lookups are dictionary reads; build one with `load_matrix`."""

    __slots__ = ("_cells", "_columns", "_rows", "origin")

    def __init__(self, origin: str, columns: tuple[str, ...], rows: tuple[MatrixRow, ...]) -> None:
        self.origin = origin
        self._columns = columns
        self._rows: Mapping[str, MatrixRow] = MappingProxyType({r.type_code: r for r in rows})
        self._cells: Mapping[tuple[str, str], Cell] = MappingProxyType(
            {(c.profession_key, c.type_code): c for r in rows for c in r.cells}
        )

    def professions(self) -> tuple[str, ...]:
        """The profession keys (columns), in file order."""
        return self._columns

    def type_codes(self) -> tuple[str, ...]:
        """The document type codes (rows), in file order."""
        return tuple(self._rows)

    def rows(self) -> tuple[MatrixRow, ...]:
        return tuple(self._rows.values())

    def cells(self) -> Iterator[Cell]:
        """Every (profession key, document type) pair, row by row."""
        for row in self._rows.values():
            yield from row.cells

    def row(self, type_code: str) -> MatrixRow | None:
        return self._rows.get(type_code)

    def profession_key(
        self,
        profession_code: str,
        *,
        pharmacist_section: str | None = None,
        specialty: str | None = None,
    ) -> str | None:
        """The column that applies to this professional, or None (no column: refused).

        Pharmacists are keyed by the group of their Ordre section and never by the bare code.
        Any other profession uses a `<code>/<specialty>` column when the file has one (so a
        specialty refinement in the official table needs no code change), else its own code.
        """
        code = profession_code.strip()
        if not _PROFESSION_CODE.fullmatch(code):
            return None
        if code == PHARMACIST:
            section = (pharmacist_section or "").strip().upper()
            key = PHARMACIST_SECTION_COLUMNS.get(section)
            return key if key in self._columns else None
        bare = _bare_specialty(code, specialty)
        if bare and f"{code}/{bare}" in self._columns:
            return f"{code}/{bare}"
        return code if code in self._columns else None

    def may_read(
        self,
        profession_code: str,
        type_code: str,
        *,
        pharmacist_section: str | None = None,
        specialty: str | None = None,
    ) -> MatrixAnswer:
        """Whether the matrix lets this profession read documents of this type (deny by default)."""
        key = self.profession_key(
            profession_code, pharmacist_section=pharmacist_section, specialty=specialty
        )
        if key is None:
            reason = _no_column_reason(profession_code, pharmacist_section)
            return MatrixAnswer(allowed=False, inferred=False, reason=reason)
        row = self._rows.get(type_code.strip())
        if row is None:
            return MatrixAnswer(allowed=False, inferred=False, reason=_UNKNOWN_TYPE)
        cell = self._cells[(key, row.type_code)]
        verb = "autorise" if cell.allowed else "n'autorise pas"
        reason = f"La matrice d'habilitations {verb} {label(key)} à lire « {row.display} »."
        if cell.inferred:
            reason += _INFERRED_NOTE
        return MatrixAnswer(allowed=cell.allowed, inferred=cell.inferred, reason=reason)


def label(key: str) -> str:
    """The French plural naming the professionals of a column (for reasons and screens)."""
    if key in _LABELS:
        return _LABELS[key]
    code, _, refinement = key.partition("/")
    base = _LABELS.get(code, f"les professionnels de code {code}")
    return f"{base} ({refinement})" if refinement else base


def load_matrix(path: Path | None = None) -> Matrix:
    """Read and validate a matrix file: the packaged one by default, or a replacement to check.

    Raises MatrixFileError naming the line for anything unexpected: a missing or unknown column,
    a cell other than O, N, O? or N?, a duplicate or malformed document type, a row whose
    provenance (`sources` for O/N cells, `inference` for O?/N? cells) is missing or unused.
    """
    if path is None:
        origin = f"carnet/access/{_PACKAGED_DIR}/{_PACKAGED_NAME}"
        resource = resources.files(_PACKAGE).joinpath(_PACKAGED_DIR).joinpath(_PACKAGED_NAME)
        try:
            text = resource.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MatrixFileError(origin, None, "the file is not UTF-8 text") from exc
    else:
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MatrixFileError(origin, None, "the file is not UTF-8 text") from exc
        except OSError as exc:
            raise MatrixFileError(origin, None, f"cannot read the file ({exc.strerror})") from exc
    return _parse(origin, text)


@functools.cache
def default_matrix() -> Matrix:
    """The packaged matrix, read and validated once per process."""
    return load_matrix()


def profession_key(
    profession_code: str,
    *,
    pharmacist_section: str | None = None,
    specialty: str | None = None,
) -> str | None:
    """The packaged matrix's column for this professional, or None (refused by default)."""
    return default_matrix().profession_key(
        profession_code, pharmacist_section=pharmacist_section, specialty=specialty
    )


def may_read(
    profession_code: str,
    type_code: str,
    *,
    pharmacist_section: str | None = None,
    specialty: str | None = None,
) -> MatrixAnswer:
    """Whether the packaged matrix lets this profession read this document type."""
    return default_matrix().may_read(
        profession_code, type_code, pharmacist_section=pharmacist_section, specialty=specialty
    )


def professions() -> tuple[str, ...]:
    return default_matrix().professions()


def type_codes() -> tuple[str, ...]:
    return default_matrix().type_codes()


def matrix_rows() -> tuple[MatrixRow, ...]:
    return default_matrix().rows()


def matrix_cells() -> tuple[Cell, ...]:
    """Every (profession key, document type) pair of the packaged matrix."""
    return tuple(default_matrix().cells())


def _bare_specialty(code: str, specialty: str | None) -> str:
    """`SM26` from `SM26` or from the authorSpecialty form `G15_10/SM26`."""
    value = (specialty or "").strip()
    prefix = f"G15_{code}/"
    return value.removeprefix(prefix) if value.startswith(prefix) else value


def _no_column_reason(profession_code: str, pharmacist_section: str | None) -> str:
    if profession_code.strip() != PHARMACIST:
        return _UNKNOWN_PROFESSION
    section = (pharmacist_section or "").strip().upper()
    if not section:
        return "Pharmacien sans section de l'Ordre connue : accès refusé par défaut."
    if not _SECTION.fullmatch(section):
        return "Section de l'Ordre des pharmaciens inconnue : accès refusé par défaut."
    return (
        f"La matrice d'habilitations n'ouvre pas le DMP aux pharmaciens de la section {section}"
        " de l'Ordre."
    )


def _parse(origin: str, text: str) -> Matrix:
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise MatrixFileError(origin, None, "the file is empty")
        columns = _check_header(origin, reader.line_num, header)
        professions_ = tuple(c for c in columns if c not in METADATA_COLUMNS)
        rows: list[MatrixRow] = []
        seen: dict[str, int] = {}
        for record in reader:
            row = _parse_row(origin, reader.line_num, columns, professions_, record)
            if row.type_code in seen:
                first = seen[row.type_code]
                raise MatrixFileError(
                    origin,
                    row.line,
                    f"duplicate type code {row.type_code!r} (first at line {first})",
                )
            seen[row.type_code] = row.line
            rows.append(row)
    except csv.Error as exc:
        raise MatrixFileError(origin, reader.line_num, f"malformed CSV ({exc})") from exc
    if not rows:
        raise MatrixFileError(origin, None, "the file has a header but no document type")
    return Matrix(origin, professions_, tuple(rows))


def _check_header(origin: str, line: int, header: list[str]) -> tuple[str, ...]:
    columns = tuple(name.strip() for name in header)
    pharmacist_columns = set(PHARMACIST_SECTION_COLUMNS.values())
    for index, name in enumerate(columns):
        if not name:
            raise MatrixFileError(origin, line, f"column {index + 1} has no name")
        if name in columns[:index]:
            raise MatrixFileError(origin, line, f"duplicate column {name!r}")
        if name in METADATA_COLUMNS:
            continue
        if not _PROFESSION_KEY.fullmatch(name):
            raise MatrixFileError(
                origin,
                line,
                f"unknown column {name!r}: expected {', '.join(METADATA_COLUMNS)}"
                " or a profession key such as '60' or '21/officine'",
            )
        if name.partition("/")[0] == PHARMACIST and name not in pharmacist_columns:
            raise MatrixFileError(
                origin,
                line,
                f"pharmacist column {name!r}: pharmacists are keyed by section group, one of "
                f"{', '.join(sorted(pharmacist_columns))}",
            )
    missing = [name for name in METADATA_COLUMNS if name not in columns]
    if missing:
        raise MatrixFileError(origin, line, f"missing column(s): {', '.join(missing)}")
    if len(columns) == len(METADATA_COLUMNS):
        raise MatrixFileError(origin, line, "no profession column")
    return columns


def _parse_row(
    origin: str,
    line: int,
    columns: tuple[str, ...],
    professions_: tuple[str, ...],
    record: list[str],
) -> MatrixRow:
    if not record:
        raise MatrixFileError(origin, line, "empty line")
    if len(record) != len(columns):
        raise MatrixFileError(
            origin, line, f"{len(record)} fields where the header has {len(columns)}"
        )
    values = dict(zip(columns, (value.strip() for value in record), strict=True))
    type_code = values[TYPE_CODE]
    if not _TYPE_CODE.fullmatch(type_code):
        raise MatrixFileError(origin, line, f"malformed type code {type_code!r}")
    if not _CLASS_CODE.fullmatch(values[CLASS_CODE]):
        raise MatrixFileError(
            origin, line, f"{type_code}: malformed class code {values[CLASS_CODE]!r}"
        )
    if not values[DISPLAY]:
        raise MatrixFileError(origin, line, f"{type_code}: empty display")
    cells: list[Cell] = []
    for key in professions_:
        value = values[key]
        if value not in _CELL_VALUES:
            raise MatrixFileError(
                origin,
                line,
                f"{type_code}, column {key!r}: cell {value!r} is not one of O, N, O?, N?",
            )
        allowed, inferred = _CELL_VALUES[value]
        cells.append(Cell(key, type_code, allowed, inferred))
    sources = _provenance(origin, line, type_code, SOURCES, values[SOURCES])
    inference = _provenance(origin, line, type_code, INFERENCE, values[INFERENCE])
    has_sourced = any(not c.inferred for c in cells)
    has_inferred = any(c.inferred for c in cells)
    if has_sourced != bool(sources):
        problem = "O/N cells but no sources" if has_sourced else "sources but no O/N cell"
        raise MatrixFileError(origin, line, f"{type_code}: {problem}")
    if has_inferred != bool(inference):
        problem = (
            "inferred cells (O?/N?) but no inference rule"
            if has_inferred
            else "inference rules but no inferred cell"
        )
        raise MatrixFileError(origin, line, f"{type_code}: {problem}")
    return MatrixRow(
        type_code=type_code,
        class_code=values[CLASS_CODE],
        display=values[DISPLAY],
        cells=tuple(cells),
        sources=sources,
        inference=inference,
        line=line,
    )


def _provenance(origin: str, line: int, type_code: str, column: str, value: str) -> tuple[str, ...]:
    ids = tuple(value.split())
    for identifier in ids:
        if not _PROVENANCE_ID.fullmatch(identifier):
            raise MatrixFileError(
                origin, line, f"{type_code}: malformed {column} identifier {identifier!r}"
            )
    return ids
