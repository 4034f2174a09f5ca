"""考务的打印件 (PDF, fpdf2 with the embedded Chinese font of pdfkit): 准考证 and 报名序号证 per school,
门贴 (room door lists) and 签到表 (sign-in sheets) per site.

Memory: one school's (or one site's) document at a time, rows read without ORM objects and photos
loaded per batch of candidates (a room for the site's forms), so a large county is printed school
by school. Every function returns (file name, PDF bytes) and reads through the actor's scope:
another county's school or site is NotFound."""
import math
from io import BytesIO

from sqlalchemy import func, select

from app.models.org import OrgUnit
from app.models.zhongkao import Candidate, ZkPhoto, ZkRoom, ZkSite
from app.services import identity, scope
from app.services.errors import DomainError, NotFound
from app.services.zhongkao import exam_admin, exams, pdfkit

BATCH = 100   # candidates whose photos are held at once
NOTICE = [
    "1. 考生凭准考证和身份证参加考试，按准考证上的考点、考场和座位号入座。",
    "2. 每科开考前 20 分钟进入考场，开考 15 分钟后不得入场；不得携带手机等通讯工具和电子设备进入考场。",
    "3. 答题前在答题卡上准确填写姓名和准考证号；用 0.5 毫米黑色签字笔作答，在规定区域内答题。",
    "4. 准考证请妥善保管，考试结束后查询成绩、填报志愿时仍需使用。",
]


def _photos(session, ids):
    if not ids:
        return {}
    return dict(session.execute(select(ZkPhoto.candidate_id, ZkPhoto.data).where(ZkPhoto.candidate_id.in_(ids))).all())


def _image(pdf, data, x, y, w, h):
    """The photo fitted into the box; a broken image prints as the empty box (never a 500)."""
    pdf.rect(x, y, w, h)
    if data:
        try:
            pdf.image(BytesIO(data), x=x, y=y, w=w, h=h, keep_aspect_ratio=True)
            return
        except Exception:  # noqa: BLE001 - a damaged upload must not stop a whole school's tickets
            pass
    size = pdf.font_size_pt
    pdf.set_font_size(8 if w < 20 else 10)
    pdf.set_xy(x, y + h / 2 - 3)
    pdf.cell(w, 6, "照片", align="C")
    pdf.set_font_size(size)


def _school(session, actor, school_id):
    if school_id in (None, ""):
        unit = getattr(actor, "org_unit", None)
        if unit is None:
            raise DomainError("请选择学校")
        school_id = unit.id
    return exams.in_scope_school(session, actor, school_id, "打印")


def _ticket_rows(session, actor, exam, school):
    return session.execute(
        select(Candidate.id, Candidate.name, Candidate.exam_no, Candidate.reg_no, Candidate.seat_no,
               ZkRoom.number.label("room_no"), ZkRoom.location, ZkSite.number.label("site_no"),
               ZkSite.name.label("site_name"), ZkSite.address)
        .join(ZkRoom, ZkRoom.id == Candidate.room_id).join(ZkSite, ZkSite.id == ZkRoom.site_id)
        .where(Candidate.exam_id == exam.id, Candidate.school_id == school.id, scope.clause(actor, Candidate))
        .order_by(Candidate.class_name, Candidate.exam_no)).all()


def _dash(pdf, y):
    pdf.set_draw_color(150)
    pdf.set_dash_pattern(dash=2, gap=1.5)
    pdf.line(6, y, 204, y)
    pdf.set_dash_pattern()
    pdf.set_draw_color(0)


def printables(session, actor, exam):
    """What the actor may print: schools in scope with registered/seated counts, sites with seated."""
    counts = session.execute(
        select(Candidate.school_id, func.count(), func.count(Candidate.room_id))
        .where(Candidate.exam_id == exam.id, scope.clause(actor, Candidate)).group_by(Candidate.school_id)).all()
    units = {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_([c[0] for c in counts])))} \
        if counts else {}
    schools = sorted(({"school": units[sid], "registered": n, "seated": seated} for sid, n, seated in counts),
                     key=lambda r: r["school"].path)
    sites = session.scalars(select(ZkSite).where(ZkSite.exam_id == exam.id, scope.clause(actor, ZkSite))
                            .order_by(ZkSite.county_path, ZkSite.number)).all()
    seated = dict(session.execute(
        select(ZkRoom.site_id, func.count(Candidate.id)).join(Candidate, Candidate.room_id == ZkRoom.id)
        .where(ZkRoom.site_id.in_([s.id for s in sites])).group_by(ZkRoom.site_id)).all()) if sites else {}
    return schools, [{"site": s, "seated": seated.get(s.id, 0)} for s in sites]


# ---------------------------------------------------------------- 准考证

def admission_tickets(session, actor, exam, school_id=None):
    """准考证 of a school's seated candidates, two per A4 page."""
    school = _school(session, actor, school_id)
    rows = _ticket_rows(session, actor, exam, school)
    if not rows:
        raise DomainError(f"{school.name}的考生尚未编排考场，不能打印准考证")
    pdf = pdfkit.new_pdf(title=f"{exam.year}年准考证 {school.name}")
    pdf.set_auto_page_break(False)
    timetable = exams.timetable_rows(exam)
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        photos = _photos(session, [r.id for r in batch])
        for i, row in enumerate(batch):
            if (start + i) % 2 == 0:
                pdf.add_page()
                _dash(pdf, 148.5)
            _ticket(pdf, exam, school, row, photos.get(row.id), timetable, 0 if (start + i) % 2 == 0 else 148.5)
    return f"准考证_{school.name}.pdf", pdfkit.output(pdf)


def _ticket(pdf, exam, school, row, photo, timetable, y0):
    pdf.set_line_width(0.4)
    pdf.rect(12, y0 + 7, 186, 135)
    pdf.set_line_width(0.2)
    pdf.set_font(pdfkit.FONT, size=17)
    pdf.set_xy(12, y0 + 10)
    pdf.cell(186, 10, f"{exam.year}年初中学业水平考试准考证", align="C")
    fields = [
        ("姓　　名", row.name),
        ("准考证号", row.exam_no or ""),
        ("报 名 号", row.reg_no),
        ("学　　校", school.name),
        ("考　　点", f"第{row.site_no:02d}考点 {row.site_name}"),
        ("考点地址", row.address or ""),
    ]
    y = y0 + 24
    for label, value in fields:
        pdf.set_xy(18, y)
        pdf.set_fill_color(238)
        pdf.set_font_size(10)
        pdf.cell(24, 8, label, border=1, align="C", fill=True)
        pdf.set_font_size(13 if label == "准考证号" else 11)
        pdf.cell(112, 8, f" {value}", border=1)
        y += 8
    pdf.set_xy(18, y)
    pdf.set_font_size(10)
    pdf.cell(24, 8, "考 场 号", border=1, align="C", fill=True)
    pdf.set_font_size(13)
    room = f"第{row.room_no:03d}考场" + (f"（{row.location}）" if row.location else "")
    pdf.cell(56, 8, f" {room}", border=1)
    pdf.set_font_size(10)
    pdf.cell(24, 8, "座 位 号", border=1, align="C", fill=True)
    pdf.set_font_size(13)
    pdf.cell(32, 8, f" {row.seat_no:02d}", border=1)
    _image(pdf, photo, 159, y0 + 24, 33, 44)

    y += 11
    pdf.set_font_size(10)
    pdf.set_xy(18, y)
    pdf.cell(174, 6, "考试日程", align="L")
    y += 6
    half = math.ceil(len(timetable) / 2) if timetable else 0
    for col in range(2 if timetable else 0):
        x = 18 + col * 87
        pdf.set_xy(x, y)
        pdf.set_font_size(9)
        for text, width in (("日期", 24), ("时间", 28), ("科目", 35)):
            pdf.cell(width, 6, text, border=1, align="C", fill=True)
        for k, item in enumerate(timetable[col * half:(col + 1) * half]):
            pdf.set_xy(x, y + 6 * (k + 1))
            pdf.cell(24, 6, str(item.get("date", "")), border=1, align="C")
            pdf.cell(28, 6, f"{item.get('start', '')}–{item.get('end', '')}", border=1, align="C")
            pdf.cell(35, 6, str(item.get("subject", ""))[:12], border=1, align="C")
    y += 6 * (half + 1) + 3
    pdf.set_font_size(8)
    pdf.set_xy(18, y)
    pdf.cell(174, 4.5, "考生须知")
    for k, line in enumerate(NOTICE):
        pdf.set_xy(18, y + 4.5 * (k + 1))
        pdf.cell(174, 4.5, line)
    pdf.set_font_size(11)


# ---------------------------------------------------------------- 报名序号证

SLIP_W, SLIP_H, SLIP_COLS, SLIP_ROWS = 95, 68, 2, 4


def registration_slips(session, actor, exam, school_id=None):
    """报名序号证 of a school's candidates: eight slips per A4 page, cut along the dashed frames."""
    school = _school(session, actor, school_id)
    rows = session.execute(
        select(Candidate.reg_no, Candidate.name, Candidate.id_number, Candidate.gender, Candidate.class_name,
               Candidate.created_at)
        .where(Candidate.exam_id == exam.id, Candidate.school_id == school.id, scope.clause(actor, Candidate))
        .order_by(Candidate.seq)).all()
    if not rows:
        raise DomainError(f"{school.name}还没有报名的考生")
    county = session.get(OrgUnit, school.parent_id)
    pdf = pdfkit.new_pdf(title=f"{exam.year}年报名序号证 {school.name}")
    pdf.set_auto_page_break(False)
    per_page = SLIP_COLS * SLIP_ROWS
    for i, row in enumerate(rows):
        if i % per_page == 0:
            pdf.add_page()
        k = i % per_page
        x, y = 10 + (k % SLIP_COLS) * SLIP_W, 12 + (k // SLIP_COLS) * SLIP_H
        pdf.set_draw_color(150)
        pdf.set_dash_pattern(dash=2, gap=1.5)
        pdf.rect(x, y, SLIP_W, SLIP_H)
        pdf.set_dash_pattern()
        pdf.set_draw_color(0)
        pdf.set_font(pdfkit.FONT, size=13)
        pdf.set_xy(x, y + 4)
        pdf.cell(SLIP_W, 8, f"{exam.year}年中考报名序号证", align="C")
        pdf.set_font_size(10)
        pdf.set_xy(x + 6, y + 15)
        pdf.cell(20, 8, "报名号")
        pdf.set_font_size(17)
        pdf.cell(SLIP_W - 32, 8, row.reg_no)
        pdf.set_font_size(10)
        lines = [("姓　名", f"{row.name}（{identity.GENDER_NAMES.get(row.gender, '')}）"),
                 ("身份证", identity.mask(row.id_number) if row.id_number else "—"),
                 ("学　校", f"{school.name} {row.class_name or ''}"),
                 ("县　区", county.name if county is not None else "")]
        for j, (label, value) in enumerate(lines):
            pdf.set_xy(x + 6, y + 26 + 7 * j)
            pdf.cell(20, 7, label)
            pdf.cell(SLIP_W - 32, 7, value[:26])
        pdf.set_font_size(7)
        pdf.set_xy(x + 6, y + 56)
        pdf.cell(SLIP_W - 12, 4, "凭报名号、身份证号和激活码登录考生服务平台核对信息、设置密码。")
        pdf.set_xy(x + 6, y + 60)
        pdf.cell(SLIP_W - 12, 4, f"请妥善保管。报名日期：{row.created_at:%Y-%m-%d}")
    return f"报名序号证_{school.name}.pdf", pdfkit.output(pdf)


# ---------------------------------------------------------------- 门贴, 签到表

def _site_rooms(session, actor, exam, site_id):
    site = exam_admin.get_site(session, actor, site_id)
    if site.exam_id != exam.id:
        raise NotFound("记录不存在或不在您的管辖范围内")
    counts = dict(session.execute(select(Candidate.room_id, func.count())
                                  .where(Candidate.room_id.in_([r.id for r in site.rooms]))
                                  .group_by(Candidate.room_id)).all()) if site.rooms else {}
    rooms = [r for r in site.rooms if counts.get(r.id)]
    if not rooms:
        raise DomainError(f"{site} 还没有编排考生")
    return site, rooms


def _room_rows(session, room):
    return session.execute(select(Candidate.id, Candidate.seat_no, Candidate.exam_no, Candidate.name)
                           .where(Candidate.room_id == room.id).order_by(Candidate.seat_no)).all()


def door_lists(session, actor, exam, site_id):
    """门贴: one page per room of the site — site, room, seat range and seat → 准考证号 + name."""
    site, rooms = _site_rooms(session, actor, exam, site_id)
    pdf = pdfkit.new_pdf(title=f"门贴 {site}")
    pdf.set_auto_page_break(False)
    for room in rooms:
        rows = _room_rows(session, room)
        pdf.add_page()
        pdf.set_font(pdfkit.FONT, size=14)
        pdf.set_xy(10, 12)
        pdf.cell(190, 8, exam.name, align="C")
        pdf.set_font_size(20)
        pdf.set_xy(10, 24)
        pdf.cell(190, 11, f"第{site.number:02d}考点　{site.name}", align="C")
        pdf.set_font_size(44)
        pdf.set_xy(10, 38)
        pdf.cell(190, 22, f"第{room.number:03d}考场", align="C")
        pdf.set_font_size(12)
        pdf.set_xy(10, 62)
        where = f"位置：{room.location}　" if room.location else ""
        pdf.cell(190, 7, f"{where}座位号 {rows[0].seat_no:02d}–{rows[-1].seat_no:02d}　共 {len(rows)} 人", align="C")
        pdf.set_xy(10, 70)
        pdf.cell(190, 7, f"准考证号 {rows[0].exam_no} — {rows[-1].exam_no}", align="C")
        per_col = math.ceil(len(rows) / 2)
        h = min(9.0, (297 - 12 - 86) / (per_col + 1))
        pdf.set_fill_color(238)
        for col in range(2):
            x = 12 + col * 94
            pdf.set_xy(x, 82)
            pdf.set_font_size(11)
            for label, width in (("座位号", 18), ("准考证号", 40), ("姓名", 32)):
                pdf.cell(width, h, label, border=1, align="C", fill=True)
            pdf.set_font_size(12 if h >= 8 else 10)
            for k, row in enumerate(rows[col * per_col:(col + 1) * per_col]):
                pdf.set_xy(x, 82 + h * (k + 1))
                pdf.cell(18, h, f"{row.seat_no:02d}", border=1, align="C")
                pdf.cell(40, h, row.exam_no or "", border=1, align="C")
                pdf.cell(32, h, row.name[:10], border=1, align="C")
    return f"门贴_{site.name}.pdf", pdfkit.output(pdf)


SIGN_ROW_H = 20
SIGN_COLS = (("座位号", 14), ("准考证号", 38), ("姓名", 28), ("照片", 18), ("考生签名", 56), ("备注", 32))


def sign_in_sheets(session, actor, exam, site_id):
    """签到表: per room seat, 准考证号, name, photo thumbnail and a column to sign."""
    site, rooms = _site_rooms(session, actor, exam, site_id)
    pdf = pdfkit.new_pdf(title=f"签到表 {site}")
    pdf.set_auto_page_break(False)
    per_page = int((297 - 12 - 44 - 16) // SIGN_ROW_H)
    for room in rooms:
        rows = _room_rows(session, room)
        photos = _photos(session, [r.id for r in rows])
        pages = math.ceil(len(rows) / per_page)
        for p in range(pages):
            pdf.add_page()
            pdf.set_font(pdfkit.FONT, size=15)
            pdf.set_xy(10, 12)
            pdf.cell(190, 8, f"{exam.name}　考生签到表", align="C")
            pdf.set_font_size(11)
            pdf.set_xy(10, 22)
            pdf.cell(190, 7, f"第{site.number:02d}考点 {site.name}　第{room.number:03d}考场"
                             + (f"（{room.location}）" if room.location else "")
                             + f"　共 {len(rows)} 人　第 {p + 1}/{pages} 页", align="C")
            pdf.set_xy(10, 31)
            pdf.cell(190, 7, "科目：______________　　日期：______月______日　　时间：________", align="C")
            pdf.set_xy(12, 40)
            pdf.set_fill_color(238)
            for label, width in SIGN_COLS:
                pdf.cell(width, 8, label, border=1, align="C", fill=True)
            y = 48
            for row in rows[p * per_page:(p + 1) * per_page]:
                pdf.set_xy(12, y)
                pdf.set_font_size(11)
                values = (f"{row.seat_no:02d}", row.exam_no or "", row.name[:10], "", "", "")
                for (label, width), value in zip(SIGN_COLS, values):
                    pdf.cell(width, SIGN_ROW_H, value, border=1, align="C")
                _image(pdf, photos.get(row.id), 12 + 14 + 38 + 28 + 2.5, y + 1.5, 13, 17)
                y += SIGN_ROW_H
            if p == pages - 1:
                pdf.set_font_size(10)
                pdf.set_xy(12, y + 4)
                pdf.cell(186, 7, "应考 ______ 人，实考 ______ 人，缺考 ______ 人　　监考员签名：______________"
                                 "　______________")
    return f"签到表_{site.name}.pdf", pdfkit.output(pdf)
