"""Domain errors carry a user-facing (Chinese) message; views, API, CLI and jobs show it as is."""


class DomainError(Exception):
    status = 422

    def __init__(self, message, field=None):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field


class NotFound(DomainError):
    """Also used for rows outside the actor's scope: never confirm they exist."""

    status = 404


class PermissionDenied(DomainError):
    status = 403
