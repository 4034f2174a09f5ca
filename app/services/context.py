"""Who is acting, and why: set by services, jobs and CLI; falls back to the logged-in user."""
import contextlib
import contextvars

_actor = contextvars.ContextVar("actor", default=None)
_reason = contextvars.ContextVar("reason", default=None)


@contextlib.contextmanager
def acting_as(actor, reason=None):
    t1 = _actor.set(actor)
    t2 = _reason.set(reason)
    try:
        yield
    finally:
        _actor.reset(t1)
        _reason.reset(t2)


def current_actor():
    actor = _actor.get()
    if actor is not None:
        return actor
    try:
        from flask import g, has_request_context

        if has_request_context():
            user = getattr(g, "user", None)
            if user is not None and getattr(user, "is_authenticated", False):
                return user
    except RuntimeError:
        pass
    return None


def current_reason():
    return _reason.get()


def with_actor(fn):
    """For service functions `fn(session, actor, …)`: the audit trail names `actor` for every
    change the function makes, whichever entry point called it (screen, API, CLI, job)."""
    import functools

    @functools.wraps(fn)
    def wrapper(session, actor, *args, **kwargs):
        if _actor.get() is actor:
            return fn(session, actor, *args, **kwargs)
        with acting_as(actor, _reason.get()):
            result = fn(session, actor, *args, **kwargs)
            session.flush()  # audit rows are written at flush: do it while the actor is known
            return result
    return wrapper
