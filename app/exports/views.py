"""The export endpoint every list screen shares: POST <view>/export_workbook/?<the list's query>.

POST with the CSRF token, not GET: an export writes an audit entry in the user's name ("exported
N rows, with full ID numbers") and may start a job; a GET could be set off by a link, a prefetch
or another site's page, leaving an audit trail of exports nobody asked for. The list's filters
and order travel in the query string of the form's action, exactly as on the list page."""
from flask_appbuilder import expose, has_access

from app.exports.service import export_response
from app.exports.sources import ModelViewSource


class ExportMixin:
    """For a view class: the 'export_workbook' endpoint (permission can_export_workbook, which the
    read-only role templates include) and `export_source(args)`. ModelViews get the generic
    source; other list screens override export_source."""

    export_columns = None      # default: list_columns
    export_title = None        # default: list_title
    export_id_columns = None   # columns that may carry an ID number; default: those of privacy.SECRET_FIELDS

    @expose("/export_workbook/", methods=["POST"])
    @has_access
    def export_workbook(self):
        return export_response(self)

    def export_source(self, args):
        return ModelViewSource.build(self, args)
