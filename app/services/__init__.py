"""Business rules, one module per domain: plain functions taking a SQLAlchemy session."""


class ServiceError(Exception):
    """A rule refused the request; `status` is the HTTP status an API maps it to."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidInput(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409
