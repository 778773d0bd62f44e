"""Errors as the API returns them: JSON with a message per field."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import JsonResponse


class ApiError(Exception):
    """Stop handling the request and answer ``status`` with this body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        response = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def bad_request(errors: Mapping[str, list[str]]) -> ApiError:
    return ApiError(400, "invalid", "The request is not valid; see errors.", errors)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "No such event for this service.")
