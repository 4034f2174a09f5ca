"""报名登记表: one A4 page per candidate with every collected field (codes shown by name), the photo,
the solemn statement, the signature lines of candidate and guardian, and the candidate's account
activation (a fresh one-time code for a candidate who has not activated yet: only its hash is kept,
so printing again replaces the code on an earlier printout)."""
import io

from sqlalchemy import select

from app.codes import tables
from app.codes.regions import region_label
from app.models.zhongkao import Candidate, ZkPhoto
from app.services import clock, identity, scope
from app.services.context import with_actor
from app.services.errors import DomainError
from app.services.zhongkao import accounts, exams, info, pdfkit

STATEMENT = "本人已核对以上信息，确认无误。考生信息一经签字确认，任何人不得擅自更改。"
ACTIVATION_HELP = "请凭报名号、身份证号和激活码登录考生服务平台 /portal 设置本人密码（学校不得代设密码）"
MAX_FORMS = 2000   # one print job; a bigger school prints by class or selection

# A4 portrait, mm
LEFT, TOP, WIDTH = 15, 14, 180
ROW = 9
PHOTO_BOX_W = 34
PHOTO_W, PHOTO_H = 30, 30 * 441 / 358


def _candidates(session, actor, candidate_ids=None, school_id=None):
    if candidate_ids:
        rows = info._scoped(session, actor, candidate_ids)
    elif school_id not in (None, ""):
        school = exams.in_scope_school(session, actor, school_id)
        exam = exams.require_exam(session)
        rows = session.scalars(select(Candidate).where(Candidate.exam_id == exam.id,
                                                       Candidate.school_id == school.id,
                                                       scope.clause(actor, Candidate))
                               .order_by(Candidate.class_name, Candidate.seq)).all()
        if not rows:
            raise DomainError(f"{school.name}还没有报名的考生")
    else:
        raise DomainError("请先勾选考生，或选择要打印的学校")
    if len(rows) > MAX_FORMS:
        raise DomainError(f"一次最多打印 {MAX_FORMS} 份报名登记表，请分班级或勾选后打印")
    return rows


@with_actor
def registration_forms_pdf(session, actor, candidate_ids=None, school_id=None):
    """The 报名登记表 of the chosen candidates (or all of one school) as PDF bytes."""
    info._collector(actor, "打印报名登记表")
    rows = _candidates(session, actor, candidate_ids, school_id)
    photos = {p.candidate_id: p.data for p in session.scalars(
        select(ZkPhoto).where(ZkPhoto.candidate_id.in_([c.id for c in rows])))}
    exam = rows[0].exam
    title = f"{exam.year}年初中学业水平考试报名登记表"
    pdf = pdfkit.new_pdf(title=title)
    pdf.set_auto_page_break(auto=False)
    printed = clock.now()
    for c in rows:
        code = accounts.issue_activation_code(session, actor, c) if c.activated_at is None else None
        _page(pdf, title, c, photos.get(c.id), code, printed)
    session.flush()
    return pdfkit.output(pdf)


# ---------------------------------------------------------------- drawing

def _fit(pdf, text, w, h, size=10, align="L", min_size=7):
    """Write text into the box at the cursor, shrinking (then wrapping) until it fits."""
    x, y = pdf.get_x(), pdf.get_y()
    text = text or ""
    for s in range(size, min_size - 1, -1):
        pdf.set_font_size(s)
        if pdf.get_string_width(text) <= w - 2:
            pdf.cell(w, h, text, border=1, align=align)
            pdf.set_font_size(size)
            return
    pdf.rect(x, y, w, h)
    for s in range(size, 4, -1):  # wrapped: the largest size whose lines fit the box's height
        pdf.set_font_size(s)
        line_h = s * 0.42  # pt → mm with a little leading
        lines = pdf.multi_cell(w - 2, line_h, text, dry_run=True, output="LINES")
        if len(lines) * line_h <= h - 1:
            break
    pdf.set_xy(x + 1, y + max((h - line_h * len(lines)) / 2, 0))
    pdf.multi_cell(w - 2, line_h, text, border=0, align="L")
    pdf.set_font_size(size)
    pdf.set_xy(x + w, y)


def _label(pdf, text, w, h=ROW):
    pdf.set_fill_color(240, 240, 240)
    pdf.cell(w, h, text, border=1, align="C", fill=True)


def _row(pdf, x, pairs, widths, h=ROW):
    pdf.set_xy(x, pdf.get_y())
    for (label, value), (lw, vw) in zip(pairs, widths):
        _label(pdf, label, lw, h)
        _fit(pdf, value, vw, h)
    pdf.ln(h)


def _page(pdf, title, c, photo, code, printed):
    pdf.add_page()
    pdf.set_xy(LEFT, TOP)
    pdf.set_font_size(17)
    pdf.cell(WIDTH, 10, title, align="C")
    pdf.ln(12)
    pdf.set_font_size(11)
    pdf.set_x(LEFT)
    pdf.cell(WIDTH / 2, 7, f"报名号：{c.reg_no}")
    pdf.cell(WIDTH / 2, 7, f"打印时间：{printed:%Y-%m-%d %H:%M}", align="R")
    pdf.ln(9)
    pdf.set_font_size(10)

    top = pdf.get_y()
    left_w = WIDTH - PHOTO_BOX_W
    narrow = [(20, (left_w - 40) / 2)] * 2
    beside = [
        (("姓名", c.name), ("性别", identity.GENDER_NAMES.get(c.gender, c.gender))),
        (("出生日期", f"{c.birth_date:%Y-%m-%d}" if c.birth_date else ""),
         ("民族", tables.label("ethnicity", c.ethnicity))),
        (("证件类型", tables.label("id_type", c.id_type)), ("证件号码", c.id_number or "")),
        (("考生类别", str(c.category.label)), ("户籍类别", str(c.hukou_kind.label))),
        (("报考意向", str(c.intent.label)), ("报名来源", str(c.origin.label))),
    ]
    for pairs in beside:
        _row(pdf, LEFT, pairs, narrow)
    _photo(pdf, LEFT + left_w, top, PHOTO_BOX_W, ROW * len(beside), photo)
    pdf.set_xy(LEFT, top + ROW * len(beside))

    wide = [(20, (WIDTH - 40) / 2)] * 2
    full = [(20, WIDTH - 20)]
    _row(pdf, LEFT, (("报名学校", c.school.name if c.school else ""), ("班级", c.class_name or "")), wide)
    _row(pdf, LEFT, (("毕业学校", c.graduated_school_name or (c.school.name if c.school else "")),
                     ("考生电话", c.phone or "")), wide)
    _row(pdf, LEFT, (("监护人", c.guardian_name or ""),
                     ("监护关系", tables.label("guardian_relation", c.guardian_relation))), wide)
    _row(pdf, LEFT, (("监护人电话", c.guardian_phone or ""), ("信息状态", str(c.info_state.label))), wide)
    _row(pdf, LEFT, (("户籍所在地", region_label(c.hukou_code)),), full)
    _row(pdf, LEFT, (("户籍地址", c.hukou_address or ""),), full, h=ROW + 3)
    _row(pdf, LEFT, (("家庭住址", c.home_address or ""),), full, h=ROW + 3)

    pdf.ln(6)
    pdf.set_x(LEFT)
    pdf.set_font_size(12)
    pdf.multi_cell(WIDTH, 7, STATEMENT, align="L")
    pdf.ln(10)
    pdf.set_font_size(11)
    for label in ("考生签名", "监护人签名", "日期"):
        pdf.set_x(LEFT)
        pdf.cell(28, 8, f"{label}：")
        y = pdf.get_y() + 7
        pdf.line(pdf.get_x(), y, pdf.get_x() + 70, y)
        pdf.ln(14)

    pdf.ln(4)
    box_y = pdf.get_y()
    pdf.set_draw_color(120, 120, 120)
    pdf.set_dash_pattern(dash=1.5, gap=1)
    pdf.rect(LEFT, box_y, WIDTH, 38)
    pdf.set_dash_pattern()
    pdf.set_draw_color(0, 0, 0)
    pdf.set_xy(LEFT + 4, box_y + 3)
    pdf.set_font_size(11)
    pdf.cell(WIDTH - 8, 7, "考生服务平台账号（请妥善保管，仅供考生本人使用）")
    pdf.ln(8)
    pdf.set_x(LEFT + 4)
    if code:
        pdf.cell(30, 8, "激活码：")
        pdf.set_font_size(16)
        pdf.cell(70, 8, " ".join([code[:4], code[4:]]) if len(code) == 8 else code)
        pdf.set_font_size(9)
        pdf.ln(10)
        pdf.set_x(LEFT + 4)
        pdf.multi_cell(WIDTH - 8, 5, ACTIVATION_HELP + "。激活码仅能使用一次；重新打印本表会生成新的激活码，"
                                                      "之前打印的激活码随即失效。", align="L")
    else:
        pdf.cell(WIDTH - 8, 8, "账号已激活")
    pdf.set_font_size(10)


def _photo(pdf, x, y, w, h, data):
    pdf.rect(x, y, w, h)
    px, py = x + (w - PHOTO_W) / 2, y + (h - PHOTO_H) / 2
    if data:
        pdf.image(io.BytesIO(data), x=px, y=py, w=PHOTO_W, h=PHOTO_H)
        return
    pdf.set_xy(x, y + h / 2 - 4)
    pdf.set_font_size(12)
    pdf.cell(w, 8, "照片", align="C")
    pdf.set_font_size(10)
