"""导出 Excel: every list screen exports what it shows.

- What: the rows of the list with its current filters and order, inside the actor's scope (the
  view's base filters, i.e. services/scope.py), with the list's column labels as headers and the
  list's cell values (names not codes; ID numbers masked unless privacy.full_id_allowed).
  sources.py rebuilds that from the list's query-string arguments.
- How: writer.py, XlsxWriter in constant-memory mode (rows go to a temporary file as written).
- Sync or job: at most EXPORT_SYNC_ROWS rows (config, default 5,000) → the file is written to a
  temporary file and streamed in the response; more → a background job 'export_list' with only
  serialisable parameters (view class name, the list's arguments, the locale). The worker finds the
  view by class name among the app's registered views and rebuilds the same source as the job's
  actor; the file is downloaded from 我的任务 (owner only).
- Audit: one entry per export (who, which list, filters, rows, full ID numbers or not).
- Screens: views.ExportMixin adds the endpoint; templates/exports/_button.html the button.
"""
from app.exports.service import export_response, find_view, record_export, run_export_job, write_workbook  # noqa: F401
from app.exports.sources import ExportSource, ModelViewSource, list_args  # noqa: F401
from app.exports.writer import XlsxListWriter  # noqa: F401
