"""What an export reads: a list screen's rows, rebuilt from its query-string arguments.

An `ExportSource` has the list's title, its column headers (the labels the screen shows), a count,
and the rows as the screen's cells show them (names not codes, ID numbers masked unless the actor's
role allows them in full). It is rebuilt from plain, serialisable arguments (the list URL's query
string), so the same source runs in the request (small exports) and in a background job (large
ones), where the actor is the job's actor (services.context.acting_as).

`ModelViewSource` serves every Flask-AppBuilder ModelView: the same filters (`_flt_<i>_<col>`),
the same order (`_oc_/_od_<View>`) and the same base filters (the scope filter) as the list page,
through the view's own datamodel, so a StudentInterface ordering/counting override applies too.
"""
import enum
import operator
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

from flask_babel import force_locale
from flask_babel.speaklater import LazyString
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Load, selectinload
from werkzeug.datastructures import MultiDict

from app.exports.writer import cell_text
from app.services import privacy, scope
from app.services.context import current_actor

FILTER_ARG = re.compile(r"^_flt_(\d)_(.+)$")
PAGING_ARG = re.compile(r"^(page|psize)_")
YIELD_PER = 2000


def list_args(args):
    """The list's query-string arguments worth keeping: filters, order, the custom lists' own
    fields; not the page number or size (an export has every page). A list of pairs (JSON)."""
    return [[k, v] for k, v in MultiDict(args).items(multi=True) if not PAGING_ARG.match(k) and k != "page"]


@dataclass
class ExportSource:
    """One list's export. `rows()` yields lists of cell values in `headers` order."""
    title: str                       # the list's title, e.g. 学生学籍 (sheet, file name; may be lazy)
    entity: str                      # what the audit entry names, e.g. "student"
    headers: list
    count: Callable[[], int]
    rows: Callable[[], Iterator[list]]
    filters: list = field(default_factory=list)   # [(label, operation, value)] for the audit entry
    full_ids: bool = False           # the file carries full ID numbers (audited as such)

    def describe_filters(self):
        """The filters in words (stored in the audit trail: always Chinese)."""
        with force_locale("zh"):
            parts = [f"{label} {op} {value}" if str(op) else f"{label}：{value}" for label, op, value in self.filters]
        return "；".join(parts) if parts else "无（全部可见记录）"


# ---------------------------------------------------------------- FAB ModelViews

def _filters_from_args(view, args):
    """A fresh Filters object with the list's search filters: the same rule as FAB's
    get_filter_args (only search columns), without touching the view's shared `_filters`
    (an in-process worker thread runs beside the request threads)."""
    filters = view.datamodel.get_filters(view.search_columns)
    allowed = filters.get_search_filters().keys()
    for key in sorted(set(args.keys())):
        match = FILTER_ARG.match(key)
        if not match:
            continue
        index, column = int(match.group(1)), match.group(2)
        if column not in allowed:
            continue
        options = filters._all_filters.get(column) or []
        if index < len(options):
            filters.add_filter_index(column, index, args.getlist(key))
    return filters


def _order_from_args(view, args):
    name = view.__class__.__name__
    column, direction = args.get(f"_oc_{name}"), args.get(f"_od_{name}")
    if column and direction in ("asc", "desc") and column in (view.order_columns or []):
        return column, direction
    if view.base_order:
        return view.base_order
    return "", ""


def _choice_labels(view, column):
    """The labels of a search field with fixed choices (e.g. 状态: in_school → 在校)."""
    field = getattr(view.search_form, column, None) if view.search_form is not None else None
    choices = (getattr(field, "kwargs", None) or {}).get("choices") or []
    try:
        return {str(k): v for k, v in choices}  # labels stay lazy: the audit text is written in zh
    except (TypeError, ValueError):
        return {}


def _filter_value_text(view, actor, column, value):
    """A filter's value in words. A relation filter names the related row only when it lies in
    the actor's scope: an audit entry must not name another county's school picked by id."""
    values = value if isinstance(value, list) else [value]
    out = []
    datamodel = view.datamodel
    labels = _choice_labels(view, column)
    for v in values:
        if datamodel.is_relation(column):
            model = datamodel.get_related_model(column)
            pk = sa_inspect(model).primary_key[0]
            key, related = str(v), None
            if pk.type.python_type is int:
                key = int(key) if key.isdigit() else None  # a malformed id: said as given
            if key is not None:
                related = datamodel.session.query(model).filter(pk == key, scope.clause(actor, model)).first()
            out.append(str(related) if related is not None else f"#{v}")
        elif str(v) in labels:
            out.append(LazyString(lambda label=labels[str(v)]: f"“{label}”"))
        else:
            out.append(f"“{v}”")
    return LazyString(lambda: "、".join(str(o) for o in out))


def _loader_options(view, columns):
    """Load only what the columns need: related rows in one IN query per batch (no per-row
    lazy loads), and, when every column is a plain column or relation, only those columns."""
    datamodel, model = view.datamodel, view.datamodel.obj
    options, plain, simple = [], [], True
    for col in columns:
        if datamodel.is_relation(col):
            options.append(selectinload(getattr(model, col)))
            prop = getattr(model, col).property
            plain += [getattr(model, c.key) for c in prop.local_columns if hasattr(model, c.key)]
        elif col in datamodel.list_columns:
            plain.append(getattr(model, col))
        else:  # a property or method: may read any column
            simple = False
    if simple and plain:
        options.append(Load(model).load_only(*plain))
    return options + list(getattr(view, "export_options", None) or ())


def _attr_reader(datamodel, column):
    """A cell's raw value as FAB's list widget reads it (BaseInterface._get_attr_value: enum members
    as their value), with a plain attribute getter for mapped columns and relations."""
    if column in datamodel.list_properties and not callable(getattr(datamodel.obj, column, None)):
        get = operator.attrgetter(column)
        if datamodel.is_enum(column):
            def enum_value(item):
                value = get(item)
                return value.value if isinstance(value, enum.Enum) else value
            return enum_value
        return get
    return lambda item: datamodel._get_attr_value(item, column)


MEMO_LIMIT = 4096  # distinct values per column worth remembering (codes, enums, schools; not names)


def _cell_reader(datamodel, column, formatter):
    """item -> what the list cell shows. A formatter's results are remembered per value while the
    column has few distinct values (性别, 年级, 状态, 学校…): a label lookup per row costs more than the
    rest of the row. Formatters are functions of the value (for one actor and locale, i.e. one export)."""
    read = _attr_reader(datamodel, column)
    if formatter is None:
        return lambda item: cell_text(read(item))
    memo, state = {}, {"on": True}

    def cell(item):
        value = read(item)
        if state["on"]:
            try:
                return memo[value]
            except KeyError:
                shown = memo[value] = cell_text(formatter(value))
                if len(memo) > MEMO_LIMIT:
                    state["on"] = False
                    memo.clear()
                return shown
            except TypeError:  # unhashable value
                pass
        return cell_text(formatter(value))
    return cell


class ModelViewSource:
    """Build an ExportSource for a ModelView from the list's arguments."""

    @staticmethod
    def build(view, args):
        args = MultiDict(args)
        actor = current_actor()
        datamodel = view.datamodel
        columns = list(getattr(view, "export_columns", None) or view.list_columns)
        headers = [view.label_columns.get(c, c) for c in columns]
        search = _filters_from_args(view, args)
        joined = search.get_joined_filters(view._base_filters)
        order_column, order_direction = _order_from_args(view, args)
        formatters = view.formatters_columns or {}

        def base_query():
            return datamodel.session.query(datamodel.obj)

        def count():
            return datamodel.query_count(base_query(), joined)

        def rows():
            query = datamodel.apply_all(base_query(), joined, order_column, order_direction)
            query = query.options(*_loader_options(view, columns)).yield_per(YIELD_PER)
            cells = [_cell_reader(datamodel, c, formatters.get(c)) for c in columns]
            for item in query:
                yield [cell(item) for cell in cells]

        id_columns = getattr(view, "export_id_columns", None)
        if id_columns is None:
            id_columns = [c for c in columns if c in privacy.SECRET_FIELDS]
        described = [(view.label_columns.get(flt.column_name, flt.column_name), flt.name,
                      _filter_value_text(view, actor, flt.column_name, value))
                     for flt, value in search.get_filters_values()]
        return ExportSource(
            title=getattr(view, "export_title", None) or view.list_title or view.__class__.__name__,
            entity=datamodel.obj.__tablename__, headers=headers, count=count, rows=rows,
            filters=described, full_ids=bool(id_columns) and privacy.full_id_allowed(actor),
        )
