"""The workbook back, annotated: the same header and rows, every bad cell highlighted with the
reason as a comment, and a 错误原因 column per row. Written with XlsxWriter in constant-memory
mode: 100,000 rows × 25 columns in ~11 s and ~25 MB (bench/bench_imports.py)."""
import datetime

import xlsxwriter

from app.imports.engine import ERROR_COLUMN


def write_annotated(path, headers, mapping, results, only_bad=False):
    field_col = {col.field: i for i, col in mapping.items()}
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("数据")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    bad = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
    err = wb.add_format({"font_color": "#9C0006", "text_wrap": False})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    width = len(headers)
    for c, h in enumerate(headers):
        ws.write_string(0, c, str(h or ""), head)
    ws.write_string(0, width, ERROR_COLUMN, head)
    ws.set_column(width, width, 60)
    ws.freeze_panes(1, 0)
    out = 1
    for r in results:
        if only_bad and r.ok:
            continue
        bad_cols = {field_col[f]: msg for f, msg in r.errors.items() if f in field_col}
        for c in range(width):
            value = r.raw[c] if c < len(r.raw) else None
            fmt = bad if c in bad_cols else None
            if value is None or value == "":
                if fmt:
                    ws.write_blank(out, c, None, fmt)
            elif isinstance(value, (datetime.date, datetime.datetime)):
                ws.write_datetime(out, c, value, fmt or date)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(out, c, value, fmt) if fmt else ws.write_number(out, c, value)
            else:
                ws.write_string(out, c, str(value), fmt) if fmt else ws.write_string(out, c, str(value))
            if c in bad_cols:
                ws.write_comment(out, c, bad_cols[c], {"x_scale": 2, "y_scale": 1.2})
        if r.errors:
            ws.write_string(out, width, "；".join(dict.fromkeys(r.errors.values())), err)
        out += 1
    wb.close()
    return path
