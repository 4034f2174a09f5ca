"""Shared PDF set-up for 中招's printed forms (报名登记表, 报名序号证, 准考证, 门贴, 签到表): fpdf2 with
an embedded subset of Noto Sans SC (SIL OFL, shipped on PyPI as pylopdf-fonts-zh-cn), so Chinese
prints the same on any printer and viewer, with no font installed on the machine."""
from functools import lru_cache
from importlib import resources

from fpdf import FPDF

FONT = "cjk"


@lru_cache(maxsize=1)
def font_path():
    return str(resources.files("pylopdf_fonts_zh_cn") / "NotoSansSC-Regular.otf")


def new_pdf(orientation="P", title=None):
    """An A4 document with the Chinese font registered and selected (size 11)."""
    pdf = FPDF(orientation=orientation, unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font(FONT, "", font_path())
    pdf.set_font(FONT, size=11)
    if title:
        pdf.set_title(title)
    pdf.set_creator("学籍与中招管理平台")
    return pdf


def output(pdf):
    return bytes(pdf.output())
