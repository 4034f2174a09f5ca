"""Which grades a school teaches, by its 办学类型 and 学制 (6-year or 5-year primary, 3-year or 4-year
junior; 九年一贯制, 十二年一贯制 and 完全中学 combine stages), which of them are final (毕业年级), and
what "one grade up" means."""
from app.codes import tables
from app.models.org import SchoolType

STAGE_PRIMARY, STAGE_JUNIOR, STAGE_SENIOR, STAGE_VOCATIONAL = "1", "2", "3", "4"
STAGE_LABELS = {STAGE_PRIMARY: "小学", STAGE_JUNIOR: "初中", STAGE_SENIOR: "高中", STAGE_VOCATIONAL: "中职"}

PRIMARY = ("11", "12", "13", "14", "15", "16")
JUNIOR = ("21", "22", "23")
JUNIOR_FOUR_YEAR = JUNIOR + ("24",)
SENIOR = ("31", "32", "33")
VOCATIONAL = ("41", "42", "43")
COMPULSORY = PRIMARY + JUNIOR_FOUR_YEAR
ALL_GRADES = PRIMARY + JUNIOR_FOUR_YEAR + SENIOR + VOCATIONAL
FIRST_GRADES = ("11", "21", "31", "41")

STAGES_BY_TYPE = {
    SchoolType.PRIMARY: (STAGE_PRIMARY,),
    SchoolType.JUNIOR: (STAGE_JUNIOR,),
    SchoolType.NINE_YEAR: (STAGE_PRIMARY, STAGE_JUNIOR),
    SchoolType.TWELVE_YEAR: (STAGE_PRIMARY, STAGE_JUNIOR, STAGE_SENIOR),
    SchoolType.COMPLETE_MIDDLE: (STAGE_JUNIOR, STAGE_SENIOR),
    SchoolType.SENIOR: (STAGE_SENIOR,),
    SchoolType.VOCATIONAL: (STAGE_VOCATIONAL,),
    SchoolType.SPECIAL: (STAGE_PRIMARY, STAGE_JUNIOR),
}
PRIMARY_YEARS = (6, 5)
JUNIOR_YEARS = (3, 4)


def stage_years(school, stage):
    if stage == STAGE_PRIMARY:
        return school.primary_years or 6
    if stage == STAGE_JUNIOR:
        return school.junior_years or 3
    return 3


def stage_of(grade):
    return grade[0] if grade else None


def stages_of(school):
    return STAGES_BY_TYPE.get(school.school_type, ())


def grades_of(school):
    return tuple(f"{stage}{n}" for stage in stages_of(school) for n in range(1, stage_years(school, stage) + 1))


def final_grades(school):
    """The 毕业年级 of each stage the school teaches (16 or 15, 23 or 24, 33, 43)."""
    return tuple(f"{stage}{stage_years(school, stage)}" for stage in stages_of(school))


def is_final(school, grade):
    return grade in final_grades(school)


def next_grade(grade):
    return f"{grade[0]}{int(grade[1]) + 1}"


def previous_grade(grade):
    return f"{grade[0]}{int(grade[1]) - 1}"


def teaches(school, grade):
    return grade in grades_of(school)


def grade_label(grade):
    return tables.label("grade", grade)


def is_compulsory(grade):
    return grade in COMPULSORY


def schooling_label(school):
    """学制 as officers say it: 六三制, 五四制 …"""
    parts = [f"{STAGE_LABELS[s]}{stage_years(school, s)}年" for s in stages_of(school)]
    return "、".join(parts)
