"""问题学籍 API: list, handle (删除/佐证/变更/结转), arbitrate, counts, detection job.

Same rules as the registry and movement APIs (app/api/registry.py, app/api/movements.py): JWT only,
every write calls the service the screens call (services/problems.py), a service's DomainError
answers {"message": "<中文>", "field": …} with its 4xx status and nothing written (files stored on
the way are removed again), an out-of-scope id answers 404 exactly like an id that does not exist
(even before the permission check).

Privacy: a problem links records of different schools. Each side is shown with its school, the
student's name and the ID number — masked for every side that is not the actor's own (a school
never needs more of the other school's record); the actor's own records follow privacy.shown_id
(full for the school's registrar and the county officer, each full view audited). The problem's
key (for 身份证号重复 the ID number itself) is never returned.

Resource /api/v1/problem/… (ProblemApi; config.FAB_ROLES grants it to schools, counties, cities and
the province, and its read permissions to readers):
- GET  /                        the actor's problems (kind, state; default: open ones), paged
- GET  /<pk>                    one problem
- GET  /counts                  counts by kind and state for the actor's subtree
- GET  /arbitration             the problems waiting for the actor's unit to arbitrate
- POST /side/<pk>/delete        删除 of the school's own record (the county approves)
- POST /side/<pk>/prove         佐证 with evidence (the county approves)
- POST /side/<pk>/change        变更: the ordinary 关键数据变更 of the record
- POST /carry-on                结转 of graduating students' records to the next stage
- POST /<pk>/arbitrate          the sides' lowest common superior picks the rightful record
- POST /detect                  the province-wide detection, as a background job (202)
Decisions on the 删除 / 佐证 / 变更 requests are RequestApi's (/api/v1/request/<id>/approve …).
"""
from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, fields
from sqlalchemy import func, select

from app.api import enum_arg as _enum_arg
from app.api.movements import _paging, _started, _unit_brief
from app.api.registry import (AttachmentIn, BadInput, RegistryApiMixin, _body, _decode_attachments, _int_or_none,
                              _text)
from app.extensions import db
from app.jobs import enqueue, job_status
from app.models.problems import ProblemKind, ProblemRecord, ProblemSide, ProblemState, Treatment
from app.services import identity, privacy, problems, scope, students
from app.services.roles import RANK_SCHOOL, actor_rank

OPEN, ALL = "open", "all"


# ---------------------------------------------------------------- request bodies (OpenAPI)

class ProblemAttachmentIn(AttachmentIn):
    kind = fields.String(metadata={"description": "附件类型：evidence（证明材料，默认）"})


class ProblemDeleteBody(Schema):
    reason = fields.String(required=True, metadata={"description": "删除原因，如：学生实际在对方学校就读"})
    expected_version = fields.Integer(metadata={"description": "读取问题学籍时的 version；已有变化则拒绝"})


class ProblemProveBody(Schema):
    reason = fields.String(required=True, metadata={"description": "佐证理由，如：经派出所核实身份证号无误"})
    attachments = fields.List(fields.Nested(ProblemAttachmentIn), required=True,
                              metadata={"description": "证明材料（如派出所证明、户口簿），Base64"})
    expected_version = fields.Integer()


class ProblemChangeBody(Schema):
    changes = fields.Dict(required=True, metadata={"description": "关键数据的新值：name, gender, birth_date, "
                                                                  "id_type, id_number, ethnicity"})
    reason = fields.String(required=True)
    attachments = fields.List(fields.Nested(ProblemAttachmentIn), required=True)
    expected_version = fields.Integer()


class ProblemCarryOnBody(Schema):
    side_ids = fields.List(fields.Integer(), required=True, metadata={"description": "要结转的问题学籍记录（side）编号"})
    reason = fields.String(required=True, metadata={"description": "结转说明"})


class ProblemArbitrateBody(Schema):
    winner_side_id = fields.Integer(required=True, metadata={"description": "仲裁通过的记录（side）编号"})
    comment = fields.String(required=True, metadata={"description": "仲裁理由"})
    expected_version = fields.Integer()


# ---------------------------------------------------------------- serialisation

def _label(value):
    return {"code": value.value, "name": str(value.label)} if value is not None else None


def _own_school(actor, side):
    """The actor is the school that owns this record (the only one that may handle it)."""
    unit = getattr(actor, "org_unit", None)
    return unit is not None and actor_rank(actor) <= RANK_SCHOOL and side.student.school_id == unit.id


def _actions(actor, side):
    """What the actor may do with this side now (the buttons of a client)."""
    problem = side.problem
    if problem.state == ProblemState.RESOLVED or not _own_school(actor, side) \
            or side.treatment in problems.OPEN_TREATMENTS or side.treatment == Treatment.DELETED:
        return []
    out = ["delete", "change"]
    if side.treatment not in (Treatment.LOST, Treatment.PROVED, Treatment.WON):
        out.insert(1, "prove")
    if side.treatment != Treatment.CARRIED:
        out.append("carry_on")
    return out


def _side_out(session, actor, side, audited):
    s = side.student
    own = scope.path_within(side.school_path, scope.actor_path(actor))
    if own:
        number = privacy.shown_id(actor, s.id_number) if s.id_number else s.id_number
        if s.id_number and privacy.full_id_allowed(actor) and s.id not in audited:
            privacy.record_full_view(session, actor, s, f"接口：问题学籍 {side.problem_id}")
            audited.add(s.id)
    else:  # the other school's record: name, masked ID number and school only
        number = identity.mask(s.id_number) if s.id_number else s.id_number
    student = {"name": s.name, "id_number": number}
    if own:
        student.update({"id": s.id, "xueji_no": privacy.shown_xueji(actor, s.xueji_no),
                        "status": _label(s.status), "version": s.version})
    return {"id": side.id, "school": _unit_brief(s.school), "student": student,
            "treatment": _label(side.treatment), "own": own,
            "request_id": side.request_id if own else None, "actions": _actions(actor, side)}


def _problem_out(session, actor, problem, audited=None):
    audited = set() if audited is None else audited
    mine = problem.arbiter_id is not None and problem.arbiter_id == getattr(actor, "org_unit_id", None)
    return {
        "id": problem.id, "kind": _label(problem.kind), "detail": problem.detail, "state": _label(problem.state),
        "version": problem.version,
        "detected_at": problem.detected_at.isoformat() if problem.detected_at else None,
        "sides": [_side_out(session, actor, s, audited) for s in problem.sides],
        "arbiter": _unit_brief(problem.arbiter),
        "may_arbitrate": mine and problem.state == ProblemState.ARBITRATION,
        "arbitration_comment": problem.arbitration_comment,
        "arbitrated_at": problem.arbitrated_at.isoformat() if problem.arbitrated_at else None,
        "resolution": problem.resolution,
        "resolved_at": problem.resolved_at.isoformat() if problem.resolved_at else None,
    }


def _page_of(session, actor, stmt):
    page, size = _paging()
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.offset(page * size).limit(size)).all()
    audited = set()
    return {"count": total, "page": page, "page_size": size,
            "result": [_problem_out(session, actor, p, audited) for p in rows]}


# ---------------------------------------------------------------- the API

class ProblemApi(RegistryApiMixin, BaseApi):
    resource_name = "problem"
    scoped_model = ProblemRecord  # /<pk>/…; the side routes check ProblemSide (see _visible)
    openapi_spec_tag = "问题学籍"
    allow_browser_login = False
    include_route_methods = {"get_list", "get", "counts", "arbitration", "delete_side", "prove", "change",
                             "carry_on", "arbitrate", "detect"}
    openapi_spec_component_schemas = (ProblemAttachmentIn, ProblemDeleteBody, ProblemProveBody, ProblemChangeBody,
                                      ProblemCarryOnBody, ProblemArbitrateBody)

    def _visible(self, pk):
        rule = request.url_rule.rule if request.url_rule is not None else ""
        model = ProblemSide if "/side/" in rule else ProblemRecord
        original, self.scoped_model = self.scoped_model, model
        try:
            return super()._visible(pk)
        finally:
            self.scoped_model = original

    # -- reads

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("list")
    def get_list(self):
        """问题学籍列表：本单位（及下级学校）的记录所涉及的问题学籍
        ---
        get:
          summary: 问题学籍列表（默认只列未解决的）
          parameters:
          - in: query
            name: kind
            schema:
              type: string
            description: 问题类型：invalid_id（身份证号错误）、duplicate_id（身份证号重复）、duplicate_identity（无身份证号且姓名、性别、出生日期重复）
          - in: query
            name: state
            schema:
              type: string
            description: 状态：open（未解决，默认）、all（全部）、untreated、partly、arbitration、arbitrated、resolved
          - in: query
            name: page
            schema:
              type: integer
            description: 页码，从 0 开始
          - in: query
            name: page_size
            schema:
              type: integer
            description: 每页条数（默认 20，最多 100）
          responses:
            200:
              description: count 与 result（[{id, kind, detail, state, version, sides, arbiter, resolution …}]；
                sides 为 [{id, school, student {name, id_number（非本单位记录一律脱敏）}, treatment, own, actions}]）
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            kind = _enum_arg("kind", ProblemKind)
            state = _enum_arg("state", ProblemState, extra=(OPEN, ALL)) or OPEN
            stmt = select(ProblemRecord).where(scope.clause(actor, ProblemRecord))
            if kind is not None:
                stmt = stmt.where(ProblemRecord.kind == kind)
            if state == OPEN:
                stmt = stmt.where(ProblemRecord.state != ProblemState.RESOLVED)
            elif state != ALL:
                stmt = stmt.where(ProblemRecord.state == state)
            stmt = stmt.order_by(ProblemRecord.detected_at.desc(), ProblemRecord.id.desc())
            return _page_of(db.session, actor, stmt)
        return self._serve(work)

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def get(self, pk):
        """查看一个问题学籍
        ---
        get:
          summary: 查看问题学籍（各方记录、处理情况、仲裁）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: result（同列表中的一项）
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        def work(actor, saved):
            problem = scope.get(db.session, actor, ProblemRecord, pk)
            return {"id": problem.id, "result": _problem_out(db.session, actor, problem)}
        return self._serve(work)

    @expose("/counts", methods=["GET"])
    @protect()
    @safe
    @permission_name("list")
    def counts(self):
        """问题学籍统计：本辖区按问题类型和状态的数量
        ---
        get:
          summary: 按类型和状态统计本辖区的问题学籍
          responses:
            200:
              description: result（[{kind, state, count}]，每种类型、每种状态各一项）、by_kind、open 与 total
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            found = problems.counts_by_kind_and_state(db.session, actor)
            rows = [{"kind": _label(k), "state": _label(s), "count": found.get((k, s), 0)}
                    for k in ProblemKind for s in ProblemState]
            by_kind = [{"kind": _label(k), "open": sum(n for (kk, s), n in found.items()
                                                       if kk == k and s != ProblemState.RESOLVED),
                        "total": sum(n for (kk, _s), n in found.items() if kk == k)} for k in ProblemKind]
            total = sum(found.values())
            still_open = sum(n for (_k, s), n in found.items() if s != ProblemState.RESOLVED)
            return {"unit": _unit_brief(getattr(actor, "org_unit", None)), "result": rows, "by_kind": by_kind,
                    "open": still_open, "total": total}
        return self._serve(work)

    @expose("/arbitration", methods=["GET"])
    @protect()
    @safe
    @permission_name("list")
    def arbitration(self):
        """待仲裁：各方都已佐证、由本单位（双方的共同上级）仲裁的问题学籍
        ---
        get:
          summary: 待本单位仲裁的问题学籍
          parameters:
          - in: query
            name: page
            schema:
              type: integer
          - in: query
            name: page_size
            schema:
              type: integer
          responses:
            200:
              description: count 与 result（同列表）
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        def work(actor, saved):
            return _page_of(db.session, actor, problems.arbitration_queue(actor))
        return self._serve(work)

    # -- handling by the owning school

    def _side_action(self, pk, what, call):
        """Scope first (404 before anything is stored), then the body, the files and the service."""
        def work(actor, saved):
            side = scope.get(db.session, actor, ProblemSide, pk)
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            files = _decode_attachments(db.session, actor, body.get("attachments"), side.student.school.path,
                                        students.EVIDENCE, saved)
            req, extra = call(actor, body, files, version)
            problem = db.session.get(ProblemRecord, side.problem_id)
            return {**_started(req, what), **extra, "side_id": side.id,
                    "result": _problem_out(db.session, actor, problem)}
        return self._serve(work, status=201)

    @expose("/side/<int:pk>/delete", methods=["POST"])
    @protect()
    @safe
    @permission_name("delete_side")
    def delete_side(self, pk):
        """删除：学校申请删除本校的这条问题记录（县（区）核办）
        ---
        post:
          summary: 问题学籍删除申请（只能删除本校的记录）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
            description: 问题学籍记录（side）编号
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProblemDeleteBody'
          responses:
            201:
              description: 已提交，等待县（区）核办
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._side_action(pk, "问题学籍删除申请", lambda actor, body, files, version: (
            problems.request_delete(db.session, actor, pk, _text(body, "reason"), expected_version=version), {}))

    @expose("/side/<int:pk>/prove", methods=["POST"])
    @protect()
    @safe
    @permission_name("prove")
    def prove(self, pk):
        """佐证：学校证明本校的记录无误（须上传证明材料，县（区）核办）
        ---
        post:
          summary: 问题学籍佐证申请（须上传证明材料）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
            description: 问题学籍记录（side）编号
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProblemProveBody'
          responses:
            201:
              description: 已提交，等待县（区）核办
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        return self._side_action(pk, "问题学籍佐证申请", lambda actor, body, files, version: (
            problems.request_proof(db.session, actor, pk, _text(body, "reason"), files, expected_version=version),
            {}))

    @expose("/side/<int:pk>/change", methods=["POST"])
    @protect()
    @safe
    @permission_name("change")
    def change(self, pk):
        """变更：更正本校这条记录的关键数据（即关键数据变更，须上传证明材料）
        ---
        post:
          summary: 问题学籍变更（关键数据变更申请）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
            description: 问题学籍记录（side）编号
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProblemChangeBody'
          responses:
            201:
              description: 已提交关键数据变更申请，等待核办
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def call(actor, body, files, version):
            changes = body.get("changes")
            if not isinstance(changes, dict):
                raise BadInput("changes 应为关键数据字段对象")
            req, warnings = problems.request_change(db.session, actor, pk, changes, _text(body, "reason"), files,
                                                    expected_version=version)
            return req, {"warnings": warnings}
        return self._side_action(pk, "关键数据变更申请", call)

    @expose("/carry-on", methods=["POST"])
    @protect()
    @safe
    @permission_name("carry_on")
    def carry_on(self):
        """结转：毕业学生的问题学籍转由下一学段的学校继续处理
        ---
        post:
          summary: 结转问题学籍（本校记录，或县（区）代本辖区学校结转）
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProblemCarryOnBody'
          responses:
            200:
              description: 已结转（carried 为已结转的记录编号；已解决的问题不必结转）
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            body = _body()
            ids = body.get("side_ids")
            if not isinstance(ids, list) or not ids:
                raise BadInput("请选择要结转的记录（side_ids）")
            clean = list(dict.fromkeys(_int_or_none(i, "side_ids") for i in ids))
            if None in clean:
                raise BadInput("side_ids 应为记录编号列表")
            done = problems.carry_on(db.session, actor, clean, _text(body, "reason"))
            return {"carried": [s.id for s in done],
                    "message": f"已结转 {len(done)} 条记录，由下一学段的学校继续处理" if done
                    else "没有需要结转的记录（相关问题学籍已解决）"}
        return self._serve(work)

    # -- arbitration and detection

    @expose("/<int:pk>/arbitrate", methods=["POST"])
    @protect()
    @safe
    @permission_name("arbitrate")
    def arbitrate(self, pk):
        """仲裁：各方都已佐证时，由双方学校的共同上级选定正确的记录
        ---
        post:
          summary: 仲裁问题学籍（未通过方须删除或变更其记录）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ProblemArbitrateBody'
          responses:
            200:
              description: 已仲裁
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        def work(actor, saved):
            scope.get(db.session, actor, ProblemRecord, pk)
            body = _body()
            version = _int_or_none(body.get("expected_version"), "expected_version")
            winner = _int_or_none(body.get("winner_side_id"), "winner_side_id")
            problem = problems.arbitrate(db.session, actor, pk, winner, _text(body, "comment"),
                                         expected_version=version)
            won = next(s for s in problem.sides if s.id == winner)
            return {"id": problem.id, "message": f"仲裁完成：{won.student.school.name}的记录通过，其他各方须删除或变更其记录",
                    "result": _problem_out(db.session, actor, problem)}
        return self._serve(work)

    @expose("/detect", methods=["POST"])
    @protect()
    @safe
    @permission_name("detect")
    def detect(self):
        """问题学籍检测（全省）：在后台检测身份证号错误和重复的学籍
        ---
        post:
          summary: 发起全省问题学籍检测（省级管理员）
          responses:
            202:
              description: 已提交检测任务（job_id；进度见“我的任务”）
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        def work(actor, saved):
            problems.check_may_run_detection(actor)
            job = enqueue(db.session, actor, "detect_problems", {})
            return {"job_id": job.id, "job": job_status(job),
                    "message": f"已提交问题学籍检测任务 #{job.id}，完成后可在“我的任务”查看结果"}
        return self._serve(work, status=202)


def register(appbuilder):
    from app.extensions import csrf

    view = appbuilder.add_api(ProblemApi)
    blueprint = getattr(view, "blueprint", None)
    if blueprint is not None:
        csrf.exempt(blueprint)  # JWT, not cookies
