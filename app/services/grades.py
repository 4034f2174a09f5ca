"""Which grades a school teaches, by its 办学类型 (the 学制 details come with the school-year issue)."""
from app.codes import tables
from app.models.org import SchoolType

PRIMARY = ("11", "12", "13", "14", "15", "16")
JUNIOR = ("21", "22", "23")
JUNIOR_FOUR_YEAR = JUNIOR + ("24",)
SENIOR = ("31", "32", "33")
VOCATIONAL = ("41", "42", "43")
COMPULSORY = PRIMARY + JUNIOR_FOUR_YEAR

GRADES_BY_TYPE = {
    SchoolType.PRIMARY: PRIMARY,
    SchoolType.JUNIOR: JUNIOR_FOUR_YEAR,
    SchoolType.NINE_YEAR: PRIMARY + JUNIOR_FOUR_YEAR,
    SchoolType.TWELVE_YEAR: PRIMARY + JUNIOR_FOUR_YEAR + SENIOR,
    SchoolType.COMPLETE_MIDDLE: JUNIOR_FOUR_YEAR + SENIOR,
    SchoolType.SENIOR: SENIOR,
    SchoolType.VOCATIONAL: VOCATIONAL,
    SchoolType.SPECIAL: PRIMARY + JUNIOR_FOUR_YEAR,
}


def grades_of(school):
    return GRADES_BY_TYPE.get(school.school_type, ())


def teaches(school, grade):
    return grade in grades_of(school)


def grade_label(grade):
    return tables.label("grade", grade)


def is_compulsory(grade):
    return grade in COMPULSORY
