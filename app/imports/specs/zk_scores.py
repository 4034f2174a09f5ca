"""中考成绩 by workbook: the county (its candidates) or the city/province imports the marks.

Columns: 报名号 or 准考证号 (either identifies the candidate), 姓名 (must match), then one column
per subject of the current year, headed by the subject's name (or its code): a score from 0 to
the subject's 满分 with at most one decimal, or for a 等级 subject a grade of its table. The
subject columns come from the year's configuration, so the spec's columns are computed when asked
(the template, the header matching and the upload page all read `spec.columns`). A blank cell or an
absent column leaves that subject alone; a filled one overwrites (upsert by candidate and subject),
so subjects can come in separate files. An unknown 报名号 (or one outside the importer's scope,
which reads the same) marks the row; the whole file is validated before anything is written.
"""
from app.imports import spec as S
from app.imports.spec import Column, SheetSpec
from app.models.zhongkao import SubjectKind
from app.services.errors import DomainError
from app.services.zhongkao import exams, scores

CONTEXT = "zk_scores_context"
C = Column
BASE_COLUMNS = [
    C("报名号", "reg_no", S.TEXT, example="2736010200001", width=18, aliases=("考生报名号",),
      comment="考生的报名号；也可只填准考证号。本列已设为文本格式"),
    C("准考证号", "exam_no", S.TEXT, example="27360102010010", width=18,
      comment="选填；未填报名号时按准考证号查找考生。两者都填时须是同一考生"),
    C("姓名", "name", required=True, example="张小明", aliases=("考生姓名",), comment="须与报名信息中的姓名一致"),
]


def _field(subject):
    return f"s_{subject.code}"


def _subject_column(subject):
    if subject.kind == SubjectKind.GRADED:
        grades = "、".join(scores.grade_table(subject))
        help_text, example = f"等级科目，填写等级：{grades}", next(iter(scores.grade_table(subject)), "A")
    else:
        top = f"{scores.Decimal(str(subject.max_score)).normalize():f}"
        help_text, example = f"0–{top} 分，最多保留一位小数", top
    return C(subject.name, _field(subject), S.TEXT, example=example, aliases=(subject.code, f"{subject.name}成绩"),
             width=10, comment=f"{help_text}；空白表示本次不导入该科目（已导入的成绩保持不变）")


def _context(session, fresh=False):
    """The current exam and its subjects by column field, kept on the session for one import."""
    ctx = session.info.get(CONTEXT)
    if ctx is None or fresh:
        exam = exams.current_exam(session)
        subs = scores.subjects(session, exam) if exam is not None else []
        ctx = session.info[CONTEXT] = {"exam": exam, "subjects": {_field(s): s for s in subs}}
    return ctx


class ScoreSheetSpec(SheetSpec):
    """The columns follow the year's subjects."""

    @property
    def columns(self):
        from app.extensions import db
        try:
            ctx = _context(db.session, fresh=True)
        except RuntimeError:  # no application context (e.g. listing specs at import time)
            return list(self._base)
        return list(self._base) + [_subject_column(s) for s in ctx["subjects"].values()]

    @columns.setter
    def columns(self, value):
        self._base = list(value)


def clean_row(session, actor, values):
    ctx = _context(session)
    reg_no, exam_no = values.get("reg_no") or "", values.get("exam_no") or ""
    if not reg_no and not exam_no:
        raise DomainError("请填写报名号或准考证号", field="reg_no")
    marks = {}
    for field, subject in ctx["subjects"].items():
        value = values.get(field)
        if value in (None, ""):
            continue
        try:
            marks[subject.id] = scores.parse_value(subject, value)
        except DomainError as exc:
            raise DomainError(exc.message, field=field)
    if not marks:
        raise DomainError("该行没有填写任何科目的成绩", field="")
    return {"reg_no": reg_no, "exam_no": exam_no, "name": values.get("name") or "", "scores": marks}


def check_rows(session, actor, results):
    """Against the database (one query per 900 keys, not per row): the candidate exists in the
    importer's scope, the name matches, and the same candidate appears once."""
    exam = _context(session)["exam"]
    by_reg, by_exam = scores.find_candidates(
        session, actor, exam, [r.record["reg_no"] for r in results if r.record["reg_no"]],
        [r.record["exam_no"] for r in results if r.record["exam_no"]])
    first = {}
    for r in results:
        rec = r.record
        if rec["reg_no"]:
            hit = by_reg.get(rec["reg_no"])
            if hit is None:
                r.fail("reg_no", "报名号不存在")
                continue
            if rec["exam_no"] and hit[2] != rec["exam_no"]:
                r.fail("exam_no", "准考证号与报名号不是同一考生")
                continue
        else:
            hit = by_exam.get(rec["exam_no"])
            if hit is None:
                r.fail("exam_no", "准考证号不存在")
                continue
        if hit[3] != rec["name"]:
            r.fail("name", "姓名与报名信息不符")
            continue
        if hit[0] in first:
            r.fail("reg_no", f"与本文件第 {first[hit[0]]} 行是同一考生：同一考生只能出现一次")
            continue
        first[hit[0]] = r.number
        rec["candidate_id"] = hit[0]


def may_use(actor):
    scores.check_importer(actor)


def ready(session, actor):
    exam = exams.require_exam(session)
    ctx = _context(session, fresh=True)
    if not ctx["subjects"]:
        raise DomainError("本年度中考尚未设置科目，请联系省级管理员")
    scores.check_import_open(session, actor, exam)


def write(session, actor, records, progress):
    done = scores.save_scores(session, actor, _context(session)["exam"], records)
    return {**done, "note": f"{done['candidates']:,} 名考生、{done['scores']:,} 项成绩，总分已重新计算"}


SPEC = S.register(ScoreSheetSpec(
    name="zk_scores", label="中考成绩", sheet_title="中考成绩", columns=BASE_COLUMNS,
    clean_row=clean_row, check_rows=check_rows, write=write, may_use=may_use, ready=ready,
    intro="县（区）教育局导入本县（区）考生的中考成绩（市、省可导入所辖考生）：每行一名考生，填写报名号（或准考证号）、"
          "姓名，以及各科成绩（列名为科目名称）。成绩为 0 至该科满分、最多一位小数；等级科目填写等级，按本年度折算表计入总分。"
          "某科空白表示不导入该科，已导入的成绩保持不变；同一科目再次导入会覆盖原成绩。整个文件校验无误后才写入，"
          "报名号不存在、姓名不符、成绩超出范围的行会在错误标注文件中标出。成绩发布前县（区）和学校看不到成绩；"
          "发布后县（区）不能再导入，更正请通过成绩复核办理。",
))
