"""Business rules. Functions take a session and an actor and succeed or raise DomainError."""
from app.services.errors import DomainError, NotFound, PermissionDenied  # noqa: F401
