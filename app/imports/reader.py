"""Reading uploaded sheets fast and robustly: python-calamine for .xlsx/.xls (≈10× openpyxl),
the csv module for .csv. Problems of the file as a whole raise DomainError in Chinese."""
import csv
import io
import re
import threading
import unicodedata
import zipfile

from app.services.errors import DomainError

MAX_ROWS = 200_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # .xls, and also encrypted (password-protected) .xlsx
ZIP_MAGIC = b"PK\x03\x04"


def header_key(text):
    """Headers match by name: full-width → half-width, no spaces, no required-marker asterisks."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    return re.sub(r"[\s*＊:：]", "", text)


def file_kind(filename, head):
    name = (filename or "").lower()
    if head.startswith(ZIP_MAGIC):
        return "xlsx"
    if head.startswith(OLE_MAGIC):
        return "ole"
    if name.endswith(".csv"):
        return "csv"
    raise DomainError("上传的文件不是 Excel 工作簿（.xlsx/.xls）或 CSV 文件")


def _xlsx_problems(path):
    """Formulas and merged header cells: calamine shows neither, so look into the sheet XML."""
    try:
        with zipfile.ZipFile(path) as zf:
            sheets = sorted(n for n in zf.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n))
            if not sheets:
                raise DomainError("工作簿中没有工作表")
            with zf.open(sheets[0]) as fh:
                tail = b""
                while True:
                    chunk = fh.read(1 << 20)
                    if not chunk:
                        break
                    data = tail + chunk
                    if b"<f>" in data or b"<f " in data:
                        raise DomainError("表格中含有公式，请先将公式单元格“复制 → 选择性粘贴为数值”后再上传")
                    m = re.search(rb'<mergeCell ref="[A-Z]+1:', data)
                    if m:
                        raise DomainError("表头（第 1 行）不能有合并单元格，请使用模板的表头")
                    tail = data[-64:]
    except zipfile.BadZipFile:
        raise DomainError("文件已损坏，无法读取，请重新保存后上传")


class _Scan(threading.Thread):
    def __init__(self, path):
        super().__init__(name="xlsx-scan", daemon=True)
        self.path, self.error = path, None
        self.start()

    def run(self):
        try:
            _xlsx_problems(self.path)
        except BaseException as exc:  # noqa: BLE001 (handed to the reading thread)
            self.error = exc

    def verdict(self):
        self.join()
        if self.error is not None:
            raise self.error


def read_sheet(path, filename=""):
    """Returns (headers, rows): the first sheet's header row and the data rows as lists."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    kind = file_kind(filename, head)
    if kind == "csv":
        return _read_csv(path)
    from python_calamine import CalamineWorkbook
    # The formula / merged-header scan inflates the sheet's XML a second time (~0.6 s for 100,000
    # rows); it runs in a thread while calamine parses (both release the GIL). Its verdict still
    # comes first, as when it ran before the parse.
    scan = _Scan(path) if kind == "xlsx" else None
    failed = None
    try:
        workbook = CalamineWorkbook.from_path(path)
        sheet = workbook.get_sheet_by_index(0)
    except Exception as exc:  # noqa: BLE001 (any parse failure is the file's problem; judged below)
        failed = exc
    if scan is not None:
        scan.verdict()
    if failed is not None:
        if kind == "ole" and not (filename or "").lower().endswith(".xls"):
            raise DomainError("文件已加密（设置了打开密码）或已损坏，请取消密码后重新上传")
        raise DomainError("文件已加密或已损坏，无法读取；请取消打开密码、重新保存为 .xlsx 后上传")
    if sheet.height <= 1:
        raise DomainError("工作表是空的：第 1 行应为表头，从第 2 行起每行一名学生")
    if sheet.height - 1 > MAX_ROWS:
        raise DomainError(f"每个文件最多 {MAX_ROWS:,} 行数据（本文件 {sheet.height - 1:,} 行），请拆分成多个文件后上传")
    rows = _sheet_rows(sheet)
    del sheet, workbook  # the Rust-side copy of the sheet (~2 KB a row) goes before validation starts
    header = rows.pop(0)  # pop(0) on a list of references: one memmove, not a copy of the rows
    return [str(h).strip() if h is not None else "" for h in header], rows


SHARED_TEXT_MAX = 10


def _sheet_rows(sheet):
    """The rows from A1 as lists, as `to_python(skip_empty_area=False)` gives them (iter_rows leaves
    out empty leading columns: pad them back), built row by row with repeated short texts shared.
    A registry sheet repeats 汉族, 否, 居民身份证, 2019-09-01 … in every row, and one str object per
    cell was most of the memory of a 100,000-row file (~290 MB → ~70 MB)."""
    start = sheet.start
    lead = [""] * start[1] if start else []
    shared = {}
    share = shared.setdefault
    out = []
    append = out.append
    for row in sheet.iter_rows():
        if lead:
            row = lead + row
        append([share(v, v) if v.__class__ is str and len(v) <= SHARED_TEXT_MAX else v for v in row])
    return out


def _read_csv(path):
    with open(path, "rb") as fh:
        data = fh.read()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("CSV 文件编码无法识别，请保存为 UTF-8 或 GBK 编码")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) <= 1:
        raise DomainError("工作表是空的：第 1 行应为表头，从第 2 行起每行一名学生")
    if len(rows) - 1 > MAX_ROWS:
        raise DomainError(f"每个文件最多 {MAX_ROWS:,} 行数据，请拆分成多个文件后上传")
    return [h.strip() for h in rows[0]], rows[1:]
