"""OpenAPI post-processing: document the error responses every operation can give.

DRF views answer errors through one exception handler (config.exceptions) with a JSON object:
``{"detail": "..."}`` or, for validation errors, field names mapped to messages. drf-spectacular
documents only success codes, so this hook adds the error codes an operation can produce, which
lets clients (and schemathesis) rely on "every status code is documented".
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "`detail` holds a readable message; validation errors map each field to its messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERROR_DESCRIPTIONS = {
    "400": "The request is invalid; the body says what was expected.",
    "401": "Authentication is required (send `Authorization: Token <key>`).",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object (in the path or named in the body), or not visible to you.",
    "405": "Method not allowed on this resource.",
    "413": "The upload is larger than the configured limit.",
    "429": "Too many requests; retry after the time in the Retry-After header.",
}
_WRITE_METHODS = {"post", "put", "patch", "delete"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # 404 also when a body names an object (a phase id) that does not exist or is hidden.
            codes = ["400", "401", "403", "404", "405", "429"]
            if method in _WRITE_METHODS:
                codes.append("413")
            for code in codes:
                operation["responses"].setdefault(
                    code,
                    {
                        "description": ERROR_DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
