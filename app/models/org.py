"""Administrative regions (行政区划) and the organisation tree 省 → 市 → 县 → 学校."""
import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, CheckConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


class LabelledEnum(enum.Enum):
    """Enum whose members carry a translatable label; str() shows the label on screens."""

    def __new__(cls, value, label):
        obj = object.__new__(cls)
        obj._value_ = value
        obj.label = label
        return obj

    def __str__(self):
        return str(self.label)

    def __html__(self):
        return str(self.label)

    @classmethod
    def choices(cls):
        return [(m.value, str(m.label)) for m in cls]


class OrgKind(LabelledEnum):
    PROVINCE = ("province", _l("省"))
    CITY = ("city", _l("市"))
    COUNTY = ("county", _l("县(区)"))
    SCHOOL = ("school", _l("学校"))

    @property
    def depth(self):
        return ORG_DEPTH[self]

    @property
    def child_kind(self):
        order = list(OrgKind)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None


ORG_DEPTH = {OrgKind.PROVINCE: 1, OrgKind.CITY: 2, OrgKind.COUNTY: 3, OrgKind.SCHOOL: 4}


class SchoolType(LabelledEnum):
    PRIMARY = ("primary", _l("小学"))
    JUNIOR = ("junior", _l("初级中学"))
    NINE_YEAR = ("nine_year", _l("九年一贯制学校"))
    TWELVE_YEAR = ("twelve_year", _l("十二年一贯制学校"))
    COMPLETE_MIDDLE = ("complete_middle", _l("完全中学"))
    SENIOR = ("senior", _l("高级中学"))
    VOCATIONAL = ("vocational", _l("中等职业学校"))
    SPECIAL = ("special", _l("特殊教育学校"))


class Ownership(LabelledEnum):
    PUBLIC = ("public", _l("公办"))
    PRIVATE = ("private", _l("民办"))


def _enum_column(enum_cls, **kw):
    # Store the stable code (value), not the Python member name.
    return Enum(
        enum_cls,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        length=20,
        validate_strings=True,
        **kw,
    )


class Region(db.Model):
    """A national administrative division (GB/T 2260 code), province/city/county level."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    full_name: Mapped[str] = mapped_column(String(128), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(
        String(6), ForeignKey("region.code"), index=True
    )

    parent = relationship("Region", remote_side=[code])

    def __str__(self):
        return f"{self.full_name}（{self.code}）"


class OrgUnit(db.Model):
    """One node of the tree. `path` holds region codes (and the 学校标识码 for schools), e.g.
    /360000/360100/360102/3601020001/, so "this unit and everything below" is one prefix query."""

    __tablename__ = "org_unit"
    __audit__ = True
    __table_args__ = (
        Index(
            "ix_org_unit_path",
            "path",
            unique=True,
            postgresql_ops={"path": "text_pattern_ops"},
        ),
        CheckConstraint(
            "(kind = 'school') = (school_code IS NOT NULL)", name="ck_org_unit_school_code"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrgKind] = mapped_column(_enum_column(OrgKind), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    region_code: Mapped[str] = mapped_column(
        String(6), ForeignKey("region.code"), nullable=False, index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True
    )
    path: Mapped[str] = mapped_column(String(255), nullable=False)
    # 学校标识码: 10 digits, national and unique; only schools have one.
    school_code: Mapped[str | None] = mapped_column(String(10), unique=True)
    school_type: Mapped[SchoolType | None] = mapped_column(_enum_column(SchoolType))
    ownership: Mapped[Ownership | None] = mapped_column(_enum_column(Ownership))
    address: Mapped[str | None] = mapped_column(String(255))
    may_enroll: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # 学制: years of the primary (6 or 5) and junior (3 or 4) stages; empty means 6 and 3 (六三制)
    primary_years: Mapped[int | None] = mapped_column(Integer)
    junior_years: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    region = relationship("Region")
    parent = relationship("OrgUnit", remote_side=[id], backref="children")

    @property
    def audit_org_path(self):
        return self.path

    def __str__(self):
        return self.name
