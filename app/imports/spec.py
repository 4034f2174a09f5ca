"""Sheet specs: what a workbook of some kind looks like and what its valid rows become.

A spec is data: columns (Chinese header, field, kind, required, code table, comment, example) and
three hooks — `clean_row` (row-level rules, usually the service's own validator), `check_rows`
(cross-row and database rules over the whole file), `write` (the service call that turns the valid
rows into records). The engine (engine.py) reads, normalises, validates whole, annotates and writes;
adding an import is writing a spec, not a new engine.
"""
from dataclasses import dataclass, field
from typing import Any, Callable

# Column kinds the engine normalises before any rule sees the value.
TEXT, INTEGER, DECIMAL1, DATE, MONTH, BOOL, CODE, REGION, ID_NUMBER, SCHOOL_CODE = (
    "text", "integer", "decimal1", "date", "month", "bool", "code", "region", "id_number", "school_code")


@dataclass
class Column:
    header: str                      # the Chinese header officers see
    field: str                       # the record field the value goes to
    kind: str = TEXT
    required: bool = False
    table: str | None = None         # national code table for CODE columns (dropdown of names)
    comment: str = ""                # shown as the header cell's comment in the template
    example: Any = None              # the template's example row
    aliases: tuple = ()              # other headers accepted for this column
    width: int = 14


@dataclass
class RowResult:
    number: int                      # the row number in the sheet (header is row 1)
    raw: list                        # the cell values as read, in sheet column order
    values: dict                     # normalised values by field
    errors: dict = field(default_factory=dict)  # field ('' = the whole row) -> Chinese message
    record: Any = None               # what clean_row produced (passed on to write)

    @property
    def ok(self):
        return not self.errors

    def fail(self, field_name, message):
        self.errors.setdefault(field_name or "", message)


@dataclass
class SheetSpec:
    name: str                        # used in URLs, the CLI and job params
    label: str                       # Chinese name of the import
    sheet_title: str                 # the data sheet's name in the template
    columns: list
    clean_row: Callable              # clean_row(session, actor, values) -> record; raises DomainError(field=…)
    write: Callable                  # write(session, actor, records, progress) -> dict summary
    check_rows: Callable | None = None   # check_rows(session, actor, [RowResult]) marks cross-row/DB errors
    row_key: Callable | None = None      # row_key(values) -> hashable: duplicates inside the file
    duplicate_message: str = "与本文件第 {first} 行重复"
    may_use: Callable | None = None      # may_use(actor) -> raises PermissionDenied
    ready: Callable | None = None        # ready(session, actor) -> raises DomainError when it may not run now
    intro: str = ""                      # shown on the upload screen and in the template's 说明 sheet

    def column(self, field_name):
        return next((c for c in self.columns if c.field == field_name), None)


SPECS: dict[str, SheetSpec] = {}


def register(spec):
    SPECS[spec.name] = spec
    return spec


def get(name):
    from app.services.errors import DomainError
    spec = SPECS.get(name)
    if spec is None:
        raise DomainError("未知的导入类型")
    return spec
