"""REST API of the imports (批量导入), JWT from POST /api/v1/security/login.

    POST /api/v1/import/<spec>               multipart: file, valid_only, dry_run → 202 {"job_id", "state", …}
    GET  /api/v1/import/job/<id>             the job's status (the actor's own import jobs only; 404 otherwise)
    GET  /api/v1/import/job/<id>/result      the job's result file (the annotated workbook), when there is one
    GET  /api/v1/import/<spec>/template      the spec's template workbook

The same entry points as the screens (app.jobs.imports.start_import, app.views.imports helpers):
one size limit, one right check (spec.may_use), one first-bytes check. Errors answer
{"message": "<中文>"} with a 4xx status, never a 500.
"""
import os

from flask import request, send_file, url_for
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import permission_name, protect
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.registry import RegistryApiMixin
from app.extensions import db
from app.imports import spec as specs
from app.jobs import job_status
from app.models.job import Job, JobState
from app.services import scope
from app.services.context import current_actor
from app.services.errors import DomainError, NotFound, PermissionDenied

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportApi(RegistryApiMixin, BaseApi):
    resource_name = "import"
    openapi_spec_tag = "批量导入"
    scoped_model = Job
    allow_browser_login = False

    def create_blueprint(self, appbuilder, *args, **kwargs):
        bp = super().create_blueprint(appbuilder, *args, **kwargs)
        bp.register_error_handler(RequestEntityTooLarge, lambda _e: self._too_large())
        return bp

    def _too_large(self):
        from app.views.imports import too_large_message
        return self.response(413, message=too_large_message())

    def _spec(self, name):
        sheet = specs.SPECS.get(name)
        if sheet is None:
            raise NotFound(f"未知的导入类型“{name}”")
        if sheet.may_use:
            sheet.may_use(current_actor())
        return sheet

    def _job(self, pk):
        job = scope.get(db.session, current_actor(), Job, pk)  # NotFound outside the actor's own jobs
        if job.kind != "import":
            raise NotFound("记录不存在或不在您的管辖范围内")
        return job

    def _status(self, job):
        body = job_status(job)
        body["job_id"] = body["id"]
        body["spec"] = (job.params or {}).get("spec")
        body["result_url"] = (url_for("ImportApi.result", pk=job.id)
                              if job.result_file and job.state == JobState.FINISHED else None)
        return body

    def _answer(self, work):
        try:
            if current_actor() is None:
                raise PermissionDenied("请先登录")
            return work()
        except RequestEntityTooLarge:
            return self._too_large()
        except DomainError as exc:
            db.session.rollback()
            return self.response(exc.status, message=exc.message)

    @expose("/<string:spec>", methods=["POST"])
    @protect()
    @safe
    @permission_name("upload")
    def upload(self, spec):
        """上传工作簿，提交导入任务
        ---
        post:
          summary: 上传工作簿并提交导入任务（后台执行）
          parameters:
          - in: path
            name: spec
            schema:
              type: string
            description: 导入类型，如 new_students（新生注册）
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  properties:
                    file:
                      type: string
                      format: binary
                      description: .xlsx / .xls / .csv，第一个工作表第 1 行为表头
                    valid_only:
                      type: boolean
                      description: 只导入正确的行（有误的行返回标注文件）
                    dry_run:
                      type: boolean
                      description: 仅校验，不写入
          responses:
            202:
              description: 已提交导入任务；用 GET /api/v1/import/job/{id} 查询进度
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            422:
              $ref: '#/components/responses/422'
        """
        from app.jobs.imports import start_import
        from app.views.imports import _flag

        def work():
            sheet = self._spec(spec)
            upload = request.files.get("file")
            filename = upload.filename if upload is not None else ""
            data = upload.read() if upload is not None else b""
            job = start_import(db.session, current_actor(), sheet.name, filename, data,
                               valid_only=_flag(request.form.get("valid_only")),
                               dry_run=_flag(request.form.get("dry_run")))
            db.session.commit()
            body = self._status(job)
            body["message"] = f"已提交导入任务 #{job.id}（{sheet.label}），请用 GET /api/v1/import/job/{job.id} 查询进度"
            return self.response(202, **body)
        return self._answer(work)

    @expose("/job/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("status")
    def status(self, pk):
        """导入任务的状态
        ---
        get:
          summary: 查询导入任务的状态和结果（只能查询本人提交的任务）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: 任务状态：state（queued/running/finished/failed）、progress、message、result_url
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        return self._answer(lambda: self.response(200, **self._status(self._job(pk))))

    @expose("/job/<int:pk>/result", methods=["GET"])
    @protect()
    @safe
    @permission_name("status")
    def result(self, pk):
        """导入任务的结果文件（错误标注工作簿）
        ---
        get:
          summary: 下载导入任务的结果文件（有误的行标注了错误原因的工作簿）
          parameters:
          - in: path
            name: pk
            schema:
              type: integer
          responses:
            200:
              description: xlsx 文件
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        def work():
            job = self._job(pk)
            if job.state != JobState.FINISHED or not job.result_file or not os.path.exists(job.result_file):
                raise NotFound("该任务没有结果文件（任务未完成，或全部数据正确）")
            return send_file(job.result_file, mimetype=XLSX, as_attachment=True,
                             download_name=os.path.basename(job.result_file), max_age=0)
        return self._answer(work)

    @expose("/<string:spec>/template", methods=["GET"])
    @protect()
    @safe
    @permission_name("template")
    def template(self, spec):
        """下载导入模板
        ---
        get:
          summary: 下载导入模板（xlsx，含表头批注、下拉列表、说明和代码表）
          parameters:
          - in: path
            name: spec
            schema:
              type: string
          responses:
            200:
              description: xlsx 文件
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        from app.views.imports import template_response
        return self._answer(lambda: template_response(self._spec(spec)))
