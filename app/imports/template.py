"""The download template of an import, generated from its spec (so the template and the engine
can never disagree about headers, kinds or code tables).

Workbook layout (XlsxWriter):

1. the data sheet (``spec.sheet_title``), FIRST because the reader imports the first sheet:
   the header row only (required columns marked "姓名*"; the engine's header matching strips the
   '*'), a comment on every header cell (what to fill, required or not, format, example),
   dropdowns of the code NAMES for CODE columns and 是/否 for BOOL columns, yyyy-mm-dd for DATE
   columns, text format '@' for ID numbers, region and school codes, months and free text (so
   Excel never turns an 18-digit ID number into 3.60102E+17 or drops a leading zero), widths from
   the spec, frozen header. The data sheet is EMPTY: the example values are on the 说明 sheet
   and in the header comments, never in row 2, where a forgotten example row would be imported as
   a real student (or, once one school has imported it, fail as "已在…建立学籍" in every file).
2. "说明": what the import does, how to fill the sheet, one row per column (required, format,
   explanation, example, code table) and the list of code tables used.
3. "代码表": every code table the columns use, code and name side by side. Dropdowns whose list
   of names is longer than Excel's 255-character limit for inline lists reference a range here.
   The sheet is protected (no password) against accidental edits, and stays visible so officers
   can look codes up.
"""
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from app.codes import tables
from app.imports import spec as S
from app.imports.reader import MAX_ROWS

INFO_SHEET = "说明"
CODE_SHEET = "代码表"
INLINE_LIMIT = 255  # Excel's limit for a comma-separated list typed into a validation
AUTHOR = "学籍管理平台"

TEXT_KINDS = (S.TEXT, S.ID_NUMBER, S.REGION, S.SCHOOL_CODE, S.MONTH)

FORMAT_TEXT = {
    S.TEXT: "文本",
    S.INTEGER: "整数",
    S.DECIMAL1: "数字，最多保留一位小数",
    S.DATE: "日期，年-月-日（如 2019-03-07）",
    S.MONTH: "年-月（如 2026-09）；本列已设为文本格式",
    S.BOOL: "从下拉列表选择“是”或“否”",
    S.CODE: "从下拉列表选择（也可填写代码）",
    S.REGION: "6 位行政区划代码；本列已设为文本格式",
    S.ID_NUMBER: "本列已设为文本格式，请勿改为数值或常规格式（否则 Excel 会把号码变成科学计数法）",
    S.SCHOOL_CODE: "10 位学校标识码；本列已设为文本格式",
}


def code_tables(spec):
    """The code tables the spec's columns use, each once, in column order."""
    out = []
    for col in spec.columns:
        if col.kind == S.CODE and col.table and col.table not in out:
            out.append(col.table)
    return out


def _standard(name):
    try:
        return tables._tables()[name].get("standard") or ""
    except (KeyError, AttributeError):
        return ""


def _example(col):
    if col.example is None:
        return ""
    return str(col.example)


def header_text(col):
    return f"{col.header}*" if col.required else col.header


def column_help(col):
    """The lines of a header cell's comment (and of the 说明 sheet's row)."""
    lines = [f"{col.header}（{'必填' if col.required else '选填'}）"]
    if col.comment:
        lines.append(col.comment)
    if col.kind == S.CODE and col.table:
        lines.append(f"从下拉列表选择{tables.title(col.table)}（也可填写代码；代码和名称见“{CODE_SHEET}”工作表）")
    else:
        lines.append(f"格式：{FORMAT_TEXT.get(col.kind, '文本')}")
    example = _example(col)
    if example:
        lines.append(f"示例：{example}")
    return lines


def _input_message(col):
    """The tooltip Excel shows when a cell of the column is selected (at most 255 characters)."""
    parts = []
    if col.kind == S.CODE and col.table:
        parts.append("请从下拉列表选择")
    elif col.kind == S.BOOL:
        parts.append("请从下拉列表选择“是”或“否”")
    else:
        parts.append(FORMAT_TEXT.get(col.kind, "文本"))
    if col.comment and col.kind != S.ID_NUMBER:
        parts.append(col.comment)
    if col.kind == S.ID_NUMBER:
        parts = ["本列为文本格式，直接输入号码即可"]
    text = "；".join(parts)
    return text[:255]


def write_template(stream_or_path, spec, *, max_bytes=None, inline_limit=INLINE_LIMIT):
    """Write the import template of `spec` to a path or a binary stream (e.g. io.BytesIO)."""
    options = {"in_memory": True} if not isinstance(stream_or_path, str) else {}
    wb = xlsxwriter.Workbook(stream_or_path, options)
    wb.set_properties({"title": f"{spec.label}导入模板", "author": AUTHOR, "company": AUTHOR,
                       "comments": f"由{AUTHOR}根据“{spec.label}”导入规格生成"})
    base = {"font_name": "宋体", "font_size": 11}
    f = {
        "head": wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1, "align": "center",
                               "valign": "vcenter", "text_wrap": True}),
        "head_req": wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1, "align": "center",
                                   "valign": "vcenter", "text_wrap": True}),
        "star": wb.add_format({**base, "bold": True, "font_color": "#C00000"}),
        "bold": wb.add_format({**base, "bold": True}),
        "text": wb.add_format({**base, "num_format": "@"}),
        "date": wb.add_format({**base, "num_format": "yyyy-mm-dd"}),
        "general": wb.add_format(base),
        "title": wb.add_format({**base, "bold": True, "font_size": 16}),
        "h2": wb.add_format({**base, "bold": True, "font_size": 12, "font_color": "#1F4E78"}),
        "wrap": wb.add_format({**base, "text_wrap": True, "valign": "top", "border": 1}),
        "wrap_plain": wb.add_format({**base, "text_wrap": True, "valign": "top"}),
        "cell": wb.add_format({**base, "valign": "top", "border": 1}),
        "cell_text": wb.add_format({**base, "valign": "top", "border": 1, "num_format": "@"}),
        "th": wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2", "border": 1, "valign": "top"}),
        "example": wb.add_format({**base, "italic": True, "font_color": "#808080", "valign": "top", "border": 1,
                                  "num_format": "@"}),
        "req": wb.add_format({**base, "bold": True, "font_color": "#C00000", "valign": "top", "border": 1,
                              "align": "center"}),
        "opt": wb.add_format({**base, "valign": "top", "border": 1, "align": "center"}),
    }

    data = wb.add_worksheet(spec.sheet_title)  # first: the reader imports the first sheet
    info = wb.add_worksheet(INFO_SHEET)
    codes = wb.add_worksheet(CODE_SHEET)
    ranges = _write_code_sheet(codes, code_tables(spec), f)
    _write_data_sheet(data, spec, f, ranges, inline_limit)
    _write_info_sheet(info, spec, f, max_bytes)
    for ws in (data, info, codes):  # printable: A4 landscape; 说明 one page wide
        ws.set_paper(9)
        ws.set_landscape()
    info.fit_to_pages(1, 0)
    data.repeat_rows(0)
    codes.repeat_rows(0, 1)
    data.activate()
    data.set_first_sheet()
    wb.close()
    return stream_or_path


def _write_data_sheet(ws, spec, f, ranges, inline_limit):
    last = MAX_ROWS  # validations and formats cover every row the reader accepts (0-based rows 1..MAX_ROWS)
    ws.set_comments_author(AUTHOR)
    ws.set_row(0, 36)
    ws.freeze_panes(1, 0)
    for i, col in enumerate(spec.columns):
        # Decimals stay "General": a "0.0" format would show 1.55 as 1.6 while the engine refuses it.
        fmt = f["text"] if col.kind in TEXT_KINDS else f["date"] if col.kind == S.DATE else f["general"]
        ws.set_column(i, i, col.width, fmt)
        if col.required:
            ws.write_rich_string(0, i, f["bold"], col.header, f["star"], "*", f["head_req"])
        else:
            ws.write_string(0, i, col.header, f["head"])
        ws.write_comment(0, i, "\n".join(column_help(col)),
                         {"author": AUTHOR, "x_scale": 2.2, "y_scale": 1.6, "font_name": "宋体", "font_size": 10})
        validation = _validation(col, ranges, inline_limit)
        validation.setdefault("input_title", col.header[:32])
        validation.setdefault("input_message", _input_message(col))
        validation.setdefault("ignore_blank", True)
        ws.data_validation(1, i, last, i, validation)


def _validation(col, ranges, inline_limit):
    if col.kind == S.CODE and col.table:
        names = list(tables.table(col.table).values())
        inline = ",".join(names)
        if len(inline) <= inline_limit and not any("," in n for n in names):
            source = names
        else:
            source = ranges[col.table]
        return {"validate": "list", "source": source, "error_type": "stop",
                "error_title": "请从下拉列表选择",
                "error_message": f"“{col.header}”应为{tables.title(col.table)}代码表中的名称，请从下拉列表中选择"
                                 f"（代码和名称见“{CODE_SHEET}”工作表）。"}
    if col.kind == S.BOOL:
        return {"validate": "list", "source": ["是", "否"], "error_type": "stop",
                "error_title": "请从下拉列表选择", "error_message": f"“{col.header}”应填“是”或“否”。"}
    if col.kind == S.DECIMAL1:
        return {"validate": "decimal", "criteria": ">=", "value": 0, "error_type": "stop",
                "error_title": "应为数字", "error_message": f"“{col.header}”应为不小于 0 的数字，最多保留一位小数。"}
    if col.kind == S.INTEGER:
        return {"validate": "integer", "criteria": "between", "minimum": -2147483648, "maximum": 2147483647,
                "error_type": "stop", "error_title": "应为整数", "error_message": f"“{col.header}”应为整数。"}
    return {"validate": "any"}


def _write_code_sheet(ws, names, f):
    """Two columns (代码, 名称) per table, side by side; returns {table: "'代码表'!$B$3:$B$60"}."""
    ranges = {}
    ws.freeze_panes(2, 0)
    for n, name in enumerate(names):
        c = 3 * n  # a narrow blank column between tables: 0, 3, 6 …
        items = list(tables.table(name).items())
        standard = _standard(name)
        ws.write_string(0, c, f"{tables.title(name)}" + (f"（{standard}）" if standard else ""), f["h2"])
        ws.write_string(1, c, "代码", f["th"])
        ws.write_string(1, c + 1, "名称", f["th"])
        for r, (code, label) in enumerate(items, start=2):
            ws.write_string(r, c, str(code), f["cell_text"])
            ws.write_string(r, c + 1, str(label), f["cell"])
        width = max([len(str(v)) for _c, v in items] + [len(tables.title(name))]) * 2 + 2
        ws.set_column(c, c, 8)
        ws.set_column(c + 1, c + 1, min(max(width, 10), 48))
        ws.set_column(c + 2, c + 2, 2)
        col = xl_col_to_name(c + 1)
        ranges[name] = f"='{CODE_SHEET}'!${col}$3:${col}${2 + len(items)}"
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True, "autofilter": True})
    return ranges


def _write_info_sheet(ws, spec, f, max_bytes):
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 7)
    ws.set_column(2, 2, 34)
    ws.set_column(3, 3, 40)
    ws.set_column(4, 4, 22)
    ws.set_column(5, 5, 16)
    r = 0
    ws.write_string(r, 0, f"{spec.label}导入模板说明", f["title"])
    ws.set_row(r, 26)
    r += 2
    if spec.intro:
        ws.merge_range(r, 0, r, 5, spec.intro, f["wrap_plain"])
        ws.set_row(r, 48)
        r += 2
    ws.write_string(r, 0, "填写要求", f["h2"])
    r += 1
    size = f"、不超过 {max_bytes // 1048576} MB" if max_bytes else ""
    rules = [
        f"在“{spec.sheet_title}”工作表中从第 2 行起填写，每行一条；第 1 行为表头，请勿修改表头文字"
        "（列的顺序可以调整，不需要的选填列可以删除）。",
        "表头带 * 的列为必填列，其余为选填列，可以留空。",
        f"代码类的列请从下拉列表中选择名称（也可填写代码）；所用代码表的代码和名称见“{CODE_SHEET}”工作表。",
        "身份证件号、行政区划代码等列已设为“文本”格式；从其他表格复制时请使用“选择性粘贴 → 数值”，"
        "不要把这些列改为“数值”或“常规”格式，否则 Excel 会把身份证件号变成科学计数法、丢失末尾几位。",
        "不要使用公式、不要合并单元格；日期请按 年-月-日 填写（如 2019-03-07）。",
        f"导入时只读取第一个工作表（“{spec.sheet_title}”），本“{INFO_SHEET}”和“{CODE_SHEET}”工作表会被忽略，"
        "可以保留。示例只写在本页，“" + spec.sheet_title + "”工作表中没有示例行，填写的每一行都会被导入。",
        f"每个文件最多 {MAX_ROWS:,} 行{size}；数据较多时请拆分成多个文件。",
        "上传后系统先校验整个文件：有错误时默认不导入任何数据，并返回标注了错误单元格和错误原因的同一工作簿，"
        "改正后重新上传即可；也可以选择“只导入正确的行”。",
    ]
    for n, rule in enumerate(rules, start=1):
        ws.merge_range(r, 0, r, 5, f"{n}. {rule}", f["wrap_plain"])
        ws.set_row(r, 16 * (len(rule) // 64 + 1) + 2)
        r += 1
    r += 1
    ws.write_string(r, 0, "各列说明", f["h2"])
    r += 1
    for c, title in enumerate(["列名", "必填", "填写要求", "说明", "示例", "代码表"]):
        ws.write_string(r, c, title, f["th"])
    r += 1
    for col in spec.columns:
        ws.write_string(r, 0, col.header, f["cell"])
        ws.write_string(r, 1, "必填" if col.required else "选填", f["req"] if col.required else f["opt"])
        if col.kind == S.CODE and col.table:
            requirement = "从下拉列表选择（也可填写代码）"
        else:
            requirement = FORMAT_TEXT.get(col.kind, "文本")
        ws.write_string(r, 2, requirement, f["wrap"])
        ws.write_string(r, 3, col.comment or "", f["wrap"])
        ws.write_string(r, 4, _example(col), f["example"])
        ws.write_string(r, 5, tables.title(col.table) if col.kind == S.CODE and col.table else "", f["cell"])
        lines = max(len(requirement) // 16, len(col.comment or "") // 19) + 1
        ws.set_row(r, 15 * min(lines, 4) + 3)
        r += 1
    used = code_tables(spec)
    if used:
        r += 1
        ws.write_string(r, 0, "所用代码表", f["h2"])
        r += 1
        for c, title in enumerate(["代码表", "项数", "标准"]):
            ws.write_string(r, c, title, f["th"])
        ws.merge_range(r, 3, r, 5, "代码和名称", f["th"])
        r += 1
        for name in used:
            items = list(tables.table(name).items())
            ws.write_string(r, 0, tables.title(name), f["cell"])
            ws.write_number(r, 1, len(items), f["opt"])
            ws.write_string(r, 2, _standard(name), f["wrap"])
            preview = "；".join(f"{code} {label}" for code, label in items[:8])
            more = f" … 共 {len(items)} 项，见“{CODE_SHEET}”工作表" if len(items) > 8 else ""
            ws.merge_range(r, 3, r, 5, preview + more, f["wrap"])
            ws.set_row(r, 15 * min(len(preview + more) // 44 + 1, 4) + 3)
            r += 1
    ws.hide_gridlines(2)
