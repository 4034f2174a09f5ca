import datetime
from sqlalchemy import select, func
from app.extensions import db
from app.models import Student, StudentHistory, SchoolClass, Graduation, PromotionHold
from app.services import school_years, graduation, promotion, clock
from tests.conftest import account
from tests.integration.test_registry_services import enrolled, data


def test_smoke(app, world, monkeypatch):
    with app.app_context():
        monkeypatch.setattr(clock, "now", lambda: datetime.datetime(2027, 6, 20, 10, 0))
        sheng = account(db.session, "sheng_admin")
        year = school_years.open_year(db.session, sheng, {"start_year": 2026})
        db.session.commit()
        school_user = account(db.session, "school_3601020001")
        studs = [enrolled(seq=i) for i in range(1, 5)]
        studs[0].grade = "16"; studs[1].grade = "16"; studs[2].grade = "13"; studs[3].grade = "11"
        db.session.commit()
        made, linked = school_years.adopt_class_names(db.session)
        print("adopt", made, linked)
        db.session.commit()
        n = graduation.graduate(db.session, school_user, student_ids=[studs[0].id])
        db.session.commit()
        print("graduated", n)
        g = db.session.scalar(select(Graduation))
        graduation.update_info(db.session, school_user, [g.id], {"destination": "普通初中", "certificate_no": "A1"})
        db.session.commit()
        monkeypatch.setattr(clock, "now", lambda: datetime.datetime(2027, 8, 11, 0, 1))
        run = promotion.run_due(db.session)
        db.session.commit()
        print(run, run.promoted, run.held, run.classes, run.seconds)
        print([(s.name, s.grade, s.status) for s in db.session.scalars(select(Student))])
        print(db.session.scalars(select(PromotionHold)).all())
        print(promotion.run_due(db.session))
        p, rep = promotion.year_end_report(db.session, account(db.session, "county_360102"), year)
        print(rep)
        promotion.revert(db.session, sheng, run.id, "时点错")
        db.session.commit()
        print([(s.name, s.grade, s.status) for s in db.session.scalars(select(Student))])
        print([(c.grade, c.active) for c in db.session.scalars(select(SchoolClass))])
