"""考生账号 (services): staff issue one-time activation codes and never see or set a password; the
candidate activates with 报名号 + 身份证号 + code and sets their own password; failures count and
lock the account for 15 minutes; messages never say which part was wrong."""
import datetime
import inspect

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Candidate
from app.services.errors import DomainError, NotFound, PermissionDenied
from app.services.zhongkao import accounts
from tests.integration.zk_support import (EAST, acc, candidates, ctx, freeze, make_exam, populate,  # noqa: F401
                                          register_county)

pytestmark = pytest.mark.usefixtures("ctx")

T0 = datetime.datetime(2027, 4, 1, 9, 0)
GOOD = "Kaoshi#2027x"


@pytest.fixture
def cands(monkeypatch):
    freeze(monkeypatch, T0)
    populate(200)
    register_county(make_exam())
    rows = candidates(EAST)
    assert len(rows) >= 3
    return rows


def issue(candidate, who="school_3601020002"):
    code = accounts.issue_activation_code(db.session, acc(who), candidate)
    db.session.commit()
    return code


def attempt(fn, *args, **kwargs):
    """Call a sign-in service the way the portal does: a refusal keeps its counter (commit)."""
    try:
        return fn(db.session, *args, **kwargs)
    except accounts.Refused:
        db.session.commit()
        raise
    except DomainError:
        db.session.rollback()
        raise


def fresh(candidate):
    db.session.expire_all()
    return db.session.get(Candidate, candidate.id)


def state(candidate):
    c = fresh(candidate)
    return (c.password_hash, c.activation_code_hash, c.activated_at, c.failed_attempts, c.locked_until)


def test_staff_issue_codes_in_scope_only_and_only_a_masked_hash_is_kept(cands):
    c = cands[0]
    code = issue(c)
    assert len(code) == accounts.CODE_LENGTH and set(code) <= set(accounts.CODE_ALPHABET)
    row = fresh(c)
    assert row.activation_code_hash and code not in row.activation_code_hash
    assert row.activation_issued_at == T0 and row.password_hash is None
    # every level above the school may issue too; outside the scope the candidate does not exist
    assert issue(c, "county_360102") != code
    with pytest.raises(NotFound):
        accounts.issue_activation_code(db.session, acc("county_360103"), c)
    with pytest.raises(NotFound):
        accounts.issue_activation_code(db.session, acc("school_3601030002"), c.id)
    with pytest.raises(PermissionDenied):
        accounts.issue_activation_code(db.session, acc("sheng_viewer"), c)
    db.session.rollback()
    # audited, with the hash masked
    logs = db.session.scalars(select(AuditLog).where(AuditLog.entity == "zk_candidate",
                                                     AuditLog.entity_id == str(c.id))).all()
    hash_rows = [r for r in logs if r.field == "activation_code_hash"]
    assert len(hash_rows) == 2 and {r.actor_name for r in hash_rows} == {"school_3601020002", "county_360102"}
    assert all(r.new_value.startswith("******") for r in hash_rows)
    stored = fresh(c).activation_code_hash
    assert not any(stored in (r.new_value or "") or stored in (r.old_value or "") for r in logs)
    # the only thing staff (an actor) can do to an account is issue a code: no set/see password
    staff_functions = [n for n, f in vars(accounts).items() if inspect.isfunction(f) and f.__module__ == accounts.__name__
                       and "actor" in inspect.signature(f).parameters]
    assert staff_functions == ["issue_activation_code"]


def test_activation_sets_the_candidates_own_password_and_consumes_the_code(cands):
    c = cands[0]
    code = issue(c)
    typed = code[:4].lower() + "-" + code[4:].lower()  # typed off paper: case and dashes do not matter
    out = attempt(accounts.activate, c.reg_no, c.id_number.lower(), typed, GOOD, GOOD, ip="10.0.0.1")
    db.session.commit()
    row = fresh(c)
    assert out.id == c.id and row.password_hash and row.activation_code_hash is None and row.activated_at == T0
    assert attempt(accounts.authenticate, c.reg_no, GOOD).id == c.id
    # consumed: the same code again is just a wrong code
    with pytest.raises(accounts.Refused, match="报名号、身份证号或激活码不正确"):
        attempt(accounts.activate, c.reg_no, c.id_number, code, "Other#2027x", "Other#2027x")
    assert attempt(accounts.authenticate, c.reg_no, GOOD).id == c.id
    # the audit names the candidate and masks the password hash
    logs = db.session.scalars(select(AuditLog).where(AuditLog.entity_id == str(c.id),
                                                     AuditLog.field == "password_hash")).all()
    assert len(logs) == 1 and logs[0].actor_name == f"考生{c.reg_no}" and logs[0].new_value.startswith("******")
    assert "10.0.0.1" in logs[0].reason


def test_a_new_code_invalidates_the_old_one(cands):
    c = cands[0]
    old = issue(c)
    new = issue(c)
    with pytest.raises(accounts.Refused):
        attempt(accounts.activate, c.reg_no, c.id_number, old, GOOD, GOOD)
    assert fresh(c).password_hash is None
    attempt(accounts.activate, c.reg_no, c.id_number, new, GOOD, GOOD)
    db.session.commit()
    assert fresh(c).password_hash is not None
    # a forgotten password: staff issue a new code, the candidate re-activates with a new password
    again = issue(c)
    attempt(accounts.activate, c.reg_no, c.id_number, again, "Newer#2027y", "Newer#2027y")
    db.session.commit()
    assert attempt(accounts.authenticate, c.reg_no, "Newer#2027y").id == c.id
    with pytest.raises(accounts.Refused):
        attempt(accounts.authenticate, c.reg_no, GOOD)


def test_wrong_codes_lock_the_candidate_for_15_minutes(cands, monkeypatch):
    c, other = cands[0], cands[1]
    code = issue(c)
    issue(other)
    wrong_id = other.id_number
    messages = []
    for i in range(4):
        with pytest.raises(accounts.Refused) as exc:
            attempt(accounts.activate, c.reg_no, wrong_id if i % 2 else c.id_number, "ABCDEFGH", GOOD, GOOD)
        messages.append(exc.value.message)
    # a wrong code, a wrong ID number and an unknown 报名号 read the same
    with pytest.raises(accounts.Refused) as unknown:
        attempt(accounts.activate, "999999999999", c.id_number, code, GOOD, GOOD)
    assert set(messages) == {unknown.value.message} == {accounts.WRONG_ACTIVATION}
    assert "身份证号不正确" not in unknown.value.message
    assert fresh(c).failed_attempts == 4
    with pytest.raises(accounts.Refused, match="锁定 15 分钟"):
        attempt(accounts.activate, c.reg_no, c.id_number, "ABCDEFGH", GOOD, GOOD)
    before = state(c)
    assert before[4] == T0 + datetime.timedelta(minutes=15)
    # the right code is refused while locked, and nothing changes
    freeze(monkeypatch, T0 + datetime.timedelta(minutes=14))
    with pytest.raises(accounts.Refused, match="1 分钟后再试"):
        attempt(accounts.activate, c.reg_no, c.id_number, code, GOOD, GOOD)
    assert state(c) == before
    # the other candidate is not affected
    assert fresh(other).locked_until is None
    # 15 minutes later the right code works
    freeze(monkeypatch, T0 + datetime.timedelta(minutes=15, seconds=1))
    attempt(accounts.activate, c.reg_no, c.id_number, code, GOOD, GOOD)
    db.session.commit()
    row = fresh(c)
    assert row.password_hash and row.failed_attempts == 0 and row.locked_until is None


@pytest.mark.parametrize("password,confirm,message", [
    ("short1A", "short1A", "长度至少"),
    ("alllowercase", "alllowercase", "至少三类"),
    (GOOD, GOOD + "x", "不一致"),
    ("REG#{reg}a", "REG#{reg}a", "不能包含报名号"),
    ("Ab#{birth}", "Ab#{birth}", "不能包含出生日期"),
])
def test_weak_passwords_are_refused_and_the_code_is_kept(cands, password, confirm, message):
    c = cands[0]
    code = issue(c)
    before = state(c)
    fill = {"reg": c.reg_no, "birth": c.id_number[6:14]}
    with pytest.raises(DomainError, match=message) as exc:
        attempt(accounts.activate, c.reg_no, c.id_number, code, password.format(**fill), confirm.format(**fill))
    assert not isinstance(exc.value, accounts.Refused)  # not a guess: not counted
    assert state(c) == before
    attempt(accounts.activate, c.reg_no, c.id_number, code, GOOD, GOOD)  # the code still works


def test_sign_in_rules(cands, monkeypatch):
    c = cands[0]
    with pytest.raises(DomainError, match="尚未激活.*激活码"):
        attempt(accounts.authenticate, c.reg_no, GOOD)
    with pytest.raises(accounts.Refused, match="报名号或密码不正确"):
        attempt(accounts.authenticate, "0000", GOOD)
    attempt(accounts.activate, c.reg_no, c.id_number, issue(c), GOOD, GOOD)
    db.session.commit()
    for _ in range(2):
        with pytest.raises(accounts.Refused, match="^报名号或密码不正确$"):
            attempt(accounts.authenticate, c.reg_no, "Wrong#2027")
    assert fresh(c).failed_attempts == 2
    later = T0 + datetime.timedelta(hours=1)
    freeze(monkeypatch, later)
    attempt(accounts.authenticate, c.reg_no, GOOD)
    db.session.commit()
    row = fresh(c)
    assert row.failed_attempts == 0 and row.last_login_at == later
    for _ in range(4):
        with pytest.raises(accounts.Refused):
            attempt(accounts.authenticate, c.reg_no, "Wrong#2027")
    with pytest.raises(accounts.Refused, match="锁定"):
        attempt(accounts.authenticate, c.reg_no, "Wrong#2027")
    with pytest.raises(accounts.Refused, match="锁定"):
        attempt(accounts.authenticate, c.reg_no, GOOD)
    freeze(monkeypatch, later + datetime.timedelta(minutes=16))
    assert attempt(accounts.authenticate, c.reg_no, GOOD).id == c.id


def test_change_password(cands):
    c = cands[0]
    attempt(accounts.activate, c.reg_no, c.id_number, issue(c), GOOD, GOOD)
    db.session.commit()
    c = fresh(c)
    stamp = accounts.password_stamp(c)
    for old, new, confirm, message in [("Wrong#2027", "Newer#2027y", "Newer#2027y", "原密码不正确"),
                                       (GOOD, GOOD, GOOD, "不能与原密码相同"),
                                       (GOOD, "Newer#2027y", "Newer#2027z", "不一致"),
                                       (GOOD, "weak", "weak", "长度至少")]:
        with pytest.raises(DomainError, match=message):
            attempt(accounts.change_password, c, old, new, confirm)
        assert accounts.password_stamp(fresh(c)) == stamp
    attempt(accounts.change_password, fresh(c), GOOD, "Newer#2027y", "Newer#2027y")
    db.session.commit()
    assert accounts.password_stamp(fresh(c)) != stamp
    assert attempt(accounts.authenticate, c.reg_no, "Newer#2027y").id == c.id
    with pytest.raises(accounts.Refused):
        attempt(accounts.authenticate, c.reg_no, GOOD)
