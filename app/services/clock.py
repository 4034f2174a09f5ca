"""The platform's clock. Time-driven processes (the 升级 time point, its grace period) read it here,
so a test can freeze it (monkeypatch `clock.now`) and turn a whole year over in a second."""
import datetime


def now():
    return datetime.datetime.now()


def today():
    return now().date()
