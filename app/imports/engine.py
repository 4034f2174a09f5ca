"""The one import engine: read → match headers → normalise cells → row rules → cross-row and
database rules → (all valid, or the officer chose "valid rows only") write through the spec's
service call → annotated workbook for the rows that failed. Validated whole before anything is
written; the caller's transaction makes the write all-or-nothing."""
import os
import time

from app.imports.normalise import normaliser
from app.imports.reader import header_key, read_sheet
from app.imports.spec import RowResult
from app.services.errors import DomainError

ERROR_COLUMN = "错误原因"


def match_columns(spec, headers):
    """{column index in the sheet: Column}; unknown extra columns are ignored."""
    wanted = {}
    for col in spec.columns:
        for name in (col.header,) + tuple(col.aliases):
            wanted[header_key(name)] = col
    mapping, seen = {}, set()
    for i, h in enumerate(headers):
        col = wanted.get(header_key(h))
        if col is not None and col.field not in seen:
            mapping[i] = col
            seen.add(col.field)
    missing = [c.header for c in spec.columns if c.required and c.field not in seen]
    if missing:
        raise DomainError(f"缺少必填列：{'、'.join(missing)}。请使用“下载模板”得到的表头（列的顺序可以不同）")
    return mapping


def validate(session, actor, spec, headers, rows, progress=None):
    mapping = match_columns(spec, headers)
    results, total = [], len(rows)
    cells = [(i, col, col.field, col.required, normaliser(col)) for i, col in mapping.items()]
    width = max(mapping, default=-1) + 1
    clean_row = spec.clean_row
    for n, raw in enumerate(rows, start=2):
        if not any(v not in (None, "") and str(v).strip() for v in raw):
            continue  # blank lines in the middle of a sheet are not errors
        if not isinstance(raw, list):
            raw = list(raw)
        values = {}
        result = RowResult(number=n, raw=raw, values=values)
        short = len(raw) < width
        for i, col, field, required, normalise in cells:
            value = None if short and i >= len(raw) else raw[i]
            try:
                value = values[field] = normalise(value)
            except DomainError as exc:
                result.fail(field, f"{col.header}：{exc.message}")
                continue
            if required and (value is None or value == ""):
                result.fail(field, f"{col.header}：必填")
        if not result.errors:
            try:
                result.record = clean_row(session, actor, values)
            except DomainError as exc:
                result.fail(exc.field if exc.field in values else "", exc.message)
        results.append(result)
        if progress and len(results) % 5000 == 0:
            progress(int(60 * (n - 1) / max(total, 1)), f"已校验 {n - 1:,}/{total:,} 行")
    if spec.row_key:
        first = {}
        for r in results:
            if not r.ok:
                continue
            key = spec.row_key(r.values)
            if key is None:
                continue
            if key in first:
                r.fail("", spec.duplicate_message.format(first=first[key]))
            else:
                first[key] = r.number
    if spec.check_rows:
        spec.check_rows(session, actor, [r for r in results if r.ok])
    return mapping, results


def run_import(session, actor, spec, path, filename, *, valid_only=False, dry_run=False, progress=None,
               error_path=None):
    """Returns a summary dict. Writes nothing unless every row is valid, or valid_only is chosen."""
    started = time.monotonic()
    progress = progress or (lambda *a, **k: None)
    if spec.may_use:
        spec.may_use(actor)
    if spec.ready:
        spec.ready(session, actor)
    progress(1, "正在读取文件")
    headers, rows = read_sheet(path, filename)
    mapping, results = validate(session, actor, spec, headers, rows, progress)
    if not results:
        raise DomainError("工作表中没有数据行")
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    summary = {"read": len(results), "accepted": 0, "rejected": len(bad), "error_file": None, "written": {}}
    if good and not dry_run and (not bad or valid_only):
        progress(65, f"正在写入 {len(good):,} 行")
        summary["written"] = spec.write(session, actor, [r.record for r in good], progress) or {}
        summary["accepted"] = len(good)
    if bad:
        from app.imports.annotate import write_annotated
        progress(90, f"正在生成错误标注文件（{len(bad):,} 行有误）")
        error_path = error_path or _error_path(path, filename)
        write_annotated(error_path, headers, mapping, results if not (valid_only and not dry_run) else bad,
                        only_bad=bool(valid_only and not dry_run))
        summary["error_file"] = error_path
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["message"] = describe(summary, valid_only=valid_only, dry_run=dry_run)
    return summary


def describe(summary, *, valid_only=False, dry_run=False):
    read, ok, bad = summary["read"], summary["accepted"], summary["rejected"]
    if dry_run:
        return f"试校验：共 {read:,} 行，其中 {read - bad:,} 行正确、{bad:,} 行有误（未写入任何数据）"
    if bad and not valid_only:
        return f"共 {read:,} 行，其中 {bad:,} 行有误，未导入任何数据；请下载错误标注文件，改正后重新上传"
    note = (summary.get("written") or {}).get("note")  # what the spec's write says it did, e.g. 新增/变更/未变
    note = f"（{note}）" if note else ""
    if bad:
        return f"共 {read:,} 行：已导入 {ok:,} 行{note}，{bad:,} 行有误未导入（见错误标注文件）"
    return f"共 {read:,} 行，全部导入成功{note}"


def _error_path(path, filename):
    base, _ = os.path.splitext(os.path.basename(filename or path))
    return os.path.join(os.path.dirname(path), f"{base}_错误标注.xlsx")
