"""Reading an uploaded CSV file into an ``UploadedData``, with errors that name the line and column.

The file: UTF-8 text (a byte-order mark is accepted), a header row naming
the columns, numeric feature columns and a last column named ``label``
holding the class (integers or any text; 2 to ``MAX_CLASSES`` classes).
Commas separate the values; a file whose header has semicolons and no comma
is read as semicolon-separated, where a decimal comma (``1,5``) is accepted
too.  Blank lines are skipped.  Line numbers count physical lines from 1,
the header included, as a text editor shows them.

Each problem is a ``Message`` (``server.engine.messages``): the API's
``error`` is its English, and the 400's detail carries it as ``message``
(``{"id", "params"}``) for the page to say in its own language.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter

import numpy as np

from server.engine.messages import Message
from server.engine.uploads import UploadedData
from server.limits import CONFIG_LIMITS

MAX_ROWS = CONFIG_LIMITS.max_samples
MIN_ROWS = CONFIG_LIMITS.min_samples
MAX_FEATURES = 64
MAX_CLASSES = 10
MIN_CLASSES = 2
LABEL_COLUMN = "label"


class CsvProblem(ValueError):
    """What is wrong with the file, and where: ``line`` (1-based) and ``column`` (a name), or None."""

    def __init__(self, problem: Message, line: int | None = None, column: str | None = None):
        self.line, self.column = line, column
        self.message = located(problem, line, column)
        super().__init__(str(self.message))

    def detail(self) -> dict:
        return {"loc": "body", "msg": str(self), "line": self.line, "column": self.column,
                "message": self.message.json()}


def located(problem: Message, line: int | None, column: str | None) -> Message:
    """``problem`` after the place it names: "line 3, column x2: ...", "line 3: ...", "column label: ..."."""
    if line is not None and column:
        return Message("line {line}, column {column}: {problem}", line=str(line), column=column,
                       problem=problem)
    if line is not None:
        return Message("line {line}: {problem}", line=str(line), problem=problem)
    if column:
        return Message("column {column}: {problem}", column=column, problem=problem)
    return problem


def read_csv_upload(body: bytes) -> UploadedData:
    """The table in ``body``; ``CsvProblem`` for anything that is not a usable data set."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvProblem(Message("the file is not UTF-8 text (byte {byte} cannot be read)",
                                 byte=str(error.start + 1))) from None
    if not text.strip():
        raise CsvProblem(Message("the file is empty"))
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    header = _header(reader)
    features = header[:-1]
    columns: list[list[float]] = []
    labels: list[str] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(labels) == MAX_ROWS:
            raise CsvProblem(Message("the file has more than {limit} data rows", limit=str(MAX_ROWS)),
                             reader.line_num)
        columns.append(_row_values(row, header, reader.line_num, delimiter))
        labels.append(row[-1].strip())
    if len(labels) < MIN_ROWS:
        raise CsvProblem(Message("the file has {rows} data rows; a data set needs at least {limit}",
                                 rows=str(len(labels)), limit=str(MIN_ROWS)))
    classes, y = _classes(labels)
    X = np.array(columns, dtype=np.float64).reshape(len(labels), len(features))
    return UploadedData(X=X, y=y, classes=classes, features=tuple(features))


def _delimiter(text: str) -> str:
    first = next(line for line in text.splitlines() if line.strip())
    return ";" if ";" in first and "," not in first else ","


def _header(reader) -> list[str]:
    for row in reader:
        if any(cell.strip() for cell in row):
            break
    else:  # pragma: no cover - the caller has checked that the text is not blank
        raise CsvProblem(Message("the file is empty"))
    line = reader.line_num
    header = [cell.strip() for cell in row]
    if all(_is_number(cell, ",") for cell in header):
        raise CsvProblem(Message("the first row must be a header naming the columns; it holds numbers"), line)
    if len(header) < 2:
        raise CsvProblem(Message("the header names one column; a data set needs feature columns and a last "
                                 "column 'label' (values separated by commas)"), line)
    if header[-1].lower() != LABEL_COLUMN:
        raise CsvProblem(Message("the last column must be named 'label', not '{name}'",
                                 name=_shown(header[-1])), line)
    if len(header) - 1 > MAX_FEATURES:
        raise CsvProblem(Message("the header has {count} feature columns; at most {limit}",
                                 count=str(len(header) - 1), limit=str(MAX_FEATURES)), line)
    seen: set[str] = set()
    for index, name in enumerate(header):
        if not name:
            raise CsvProblem(Message("column {index} has no name", index=str(index + 1)), line)
        if name in seen:
            raise CsvProblem(Message("the column name '{name}' appears twice", name=_shown(name)), line)
        seen.add(name)
    return header


def _row_values(row: list[str], header: list[str], line: int, delimiter: str) -> list[float]:
    if len(row) != len(header):
        raise CsvProblem(Message("{count} values, but the header has {columns} columns",
                                 count=str(len(row)), columns=str(len(header))), line)
    values = []
    for name, cell in zip(header[:-1], row[:-1], strict=True):
        text = cell.strip()
        if not text:
            raise CsvProblem(Message("the value is missing"), line, name)
        number = _number(text, delimiter)
        if number is None:
            raise CsvProblem(Message("'{value}' is not a number", value=_shown(text)), line, name)
        if not math.isfinite(number):
            raise CsvProblem(Message("'{value}' is not a finite number", value=_shown(text)), line, name)
        values.append(number)
    if not row[-1].strip():
        raise CsvProblem(Message("the label is missing"), line, header[-1])
    return values


def _number(text: str, delimiter: str) -> float | None:
    if delimiter == ";" and "," in text and "." not in text:
        text = text.replace(",", ".", 1)  # a decimal comma, where semicolons separate
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(text: str, delimiter: str) -> bool:
    return bool(text) and _number(text, delimiter) is not None


def _shown(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _classes(labels: list[str]) -> tuple[tuple, np.ndarray]:
    """Classes in order (numeric when every label is an integer, else alphabetical) and y (m,)."""
    counts = Counter(labels)
    if len(counts) < MIN_CLASSES:
        raise CsvProblem(Message("every row has the label '{label}'; a data set needs at least "
                                 "{limit} classes", label=_shown(labels[0]), limit=str(MIN_CLASSES)),
                         column=LABEL_COLUMN)
    if len(counts) > MAX_CLASSES:
        raise CsvProblem(Message("{count} different labels; at most {limit} classes",
                                 count=str(len(counts)), limit=str(MAX_CLASSES)), column=LABEL_COLUMN)
    integers = {label: _integer(label) for label in counts}
    if all(value is not None for value in integers.values()):
        if len(set(integers.values())) < len(integers):
            raise CsvProblem(Message("two labels write the same integer differently (such as 1 and 01)"),
                             column=LABEL_COLUMN)
        ordered = sorted(counts, key=lambda label: integers[label])
        classes = tuple(integers[label] for label in ordered)
    else:
        ordered = sorted(counts)
        classes = tuple(ordered)
    index = {label: position for position, label in enumerate(ordered)}
    return classes, np.array([index[label] for label in labels], dtype=np.int64)


def _integer(label: str) -> int | None:
    try:
        return int(label)
    except ValueError:
        return None
