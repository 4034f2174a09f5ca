"""The .xlsx writer of every list export: XlsxWriter in constant-memory mode, so each row goes to
a temporary file as it is written and memory stays flat at any size (bench/bench_exports.py).

Cells are written as the list shows them: text stays text (an ID number or a 学校标识码 is never
turned into a number or a date by Excel), numbers stay numbers. A sheet holds at most 1,048,576
rows; longer exports continue on a second sheet with the same header."""
import datetime
import decimal

import xlsxwriter

MAX_ROWS = 1_048_576          # Excel's limit per sheet, header included
MAX_TEXT = 32_767             # Excel's limit per cell
WIDTH_SAMPLE = 200            # rows looked at to size the columns
BAD_SHEET_CHARS = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_name(title, number=1):
    base = (str(title) or "Sheet").translate(BAD_SHEET_CHARS)
    suffix = f"（{number}）" if number > 1 else ""
    return base[: 31 - len(suffix)] + suffix


def cell_text(value):
    """What a list cell shows, as text or a number (never None, never a lazy string)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _width(value):
    text = value if isinstance(value, str) else str(value)
    # CJK characters are about two Latin characters wide.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


class XlsxListWriter:
    """with XlsxListWriter(target, title, headers) as w: w.write_rows(rows) -> count.
    target: a path or a binary file object opened for writing (XlsxWriter seeks in it)."""

    def __init__(self, target, title, headers):
        self.title = str(title)
        self.headers = [str(h) for h in headers]
        self.book = xlsxwriter.Workbook(target, {
            "constant_memory": True,
            "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
        })
        self.head_fmt = self.book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.sheets = 0
        self.count = 0
        self._row = 0
        self._sheet = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()

    def _new_sheet(self, widths):
        self.sheets += 1
        ws = self.book.add_worksheet(sheet_name(self.title, self.sheets))
        for c, h in enumerate(self.headers):
            ws.write_string(0, c, h, self.head_fmt)
            ws.set_column(c, c, min(max(widths[c], 6) + 2, 60))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, 0, max(len(self.headers) - 1, 0))
        self._sheet, self._row = ws, 1
        self._widths = widths

    def _write(self, values):
        if self._row >= MAX_ROWS:
            self._new_sheet(self._widths)
        ws, r = self._sheet, self._row
        write_string, write_number = ws.write_string, ws.write_number
        for c, v in enumerate(values):
            if isinstance(v, str):
                if v:
                    write_string(r, c, v if len(v) <= MAX_TEXT else v[:MAX_TEXT])
            else:
                write_number(r, c, v)
        self._row += 1
        self.count += 1

    def write_rows(self, rows, progress=None, every=5000):
        """rows: iterable of lists of cell values (already formatted). progress(count) is called
        every `every` rows. Returns the number of rows written."""
        head, rows = [], iter(rows)
        for row in rows:  # look at the first rows to size the columns
            head.append([cell_text(v) for v in row])
            if len(head) >= WIDTH_SAMPLE:
                break
        widths = [_width(h) for h in self.headers]
        for row in head:
            for c, v in enumerate(row[: len(widths)]):
                widths[c] = max(widths[c], _width(v))
        if self._sheet is None:
            self._new_sheet(widths)
        for row in head:
            self._write(row)
        for row in rows:
            self._write([cell_text(v) for v in row])
            if progress is not None and self.count % every == 0:
                progress(self.count)
        return self.count

    def close(self):
        if self._sheet is None:
            self._new_sheet([_width(h) for h in self.headers])
        self.book.close()
