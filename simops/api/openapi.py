"""The API's OpenAPI 3.1 document, generated from the pydantic models it takes and answers.

Every schema comes from `model_json_schema` (through `models_json_schema`, whose refs point into
`components/schemas`); only the paths, their parameters and which model each status carries
are written here. OpenAPI 3.1 schemas are JSON Schema 2020-12, which pydantic writes.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from simops.api.campaigns import API_PREFIX, ID_PATTERN, MAX_LIST_LIMIT
from simops.api.models import (
    CampaignKind,
    CampaignList,
    CampaignStartRequest,
    CampaignState,
    CancelRequest,
    ControlSent,
    RetryRequest,
    StartedCampaign,
)
from simops.api.problems import PROBLEM_MEDIA_TYPE, ProblemDetails
from simops.campaigns.rows import ReportRow
from simops.campaigns.spec import CampaignSpec
from simops.clients.campaigns import CampaignControl

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
SCHEMA_REF = "#/components/schemas/{model}"

_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (CampaignStartRequest, "validation"),
    (CampaignSpec, "validation"),
    (CancelRequest, "validation"),
    (RetryRequest, "validation"),
    (StartedCampaign, "serialization"),
    (CampaignState, "serialization"),
    (CampaignList, "serialization"),
    (ControlSent, "serialization"),
    (ReportRow, "serialization"),
    (ProblemDetails, "serialization"),
]


class _Schemas:
    """The components, and a `$ref` to each model in the mode it is used."""

    def __init__(self) -> None:
        refs, definitions = models_json_schema(_MODELS, ref_template=SCHEMA_REF)
        self.refs = refs
        self.components: dict[str, Any] = definitions.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        """The schema (a `$ref` into the components) of `model` read or written."""
        return dict(self.refs[(model, mode)])


def _problem(schemas: _Schemas, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schemas.ref(ProblemDetails, "serialization")}},
    }


def _json(schemas: _Schemas, model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schemas.ref(model, "serialization")}},
    }


_PROBLEMS = {
    HTTPStatus.BAD_REQUEST: "the body is not JSON (or not the multipart it says)",
    HTTPStatus.UNAUTHORIZED: "no token, or not one of SIMOPS_API_TOKENS",
    HTTPStatus.FORBIDDEN: "a read-only token, or a write from a page of another origin",
    HTTPStatus.NOT_FOUND: "no such campaign (or it is of the other collection)",
    HTTPStatus.NOT_ACCEPTABLE: "Accept names neither text/csv nor application/json",
    HTTPStatus.CONFLICT: "the campaign's state forbids it (see the problem's detail)",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "the body is too large",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "the body is not of a media type this takes",
    HTTPStatus.MISDIRECTED_REQUEST: "without tokens, the API answers to loopback names only",
    HTTPStatus.UNPROCESSABLE_ENTITY: "the request is JSON but not what this takes",
}


def _operation(
    schemas: _Schemas,
    operation_id: str,
    summary: str,
    responses: dict[HTTPStatus, dict[str, Any]],
    problems: list[HTTPStatus],
    **fields: Any,
) -> dict[str, Any]:
    answers = {str(int(status)): response for status, response in responses.items()}
    for status in [HTTPStatus.UNAUTHORIZED, HTTPStatus.MISDIRECTED_REQUEST, *problems]:
        answers[str(int(status))] = _problem(schemas, _PROBLEMS[status])
    return {"operationId": operation_id, "summary": summary, "responses": answers, **fields}


_BODY_PROBLEMS = [
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    HTTPStatus.UNPROCESSABLE_ENTITY,
]


def _collection_paths(schemas: _Schemas, kind: CampaignKind) -> dict[str, Any]:
    noun = kind.noun
    title = noun.capitalize()
    base = f"{API_PREFIX}/{kind.value}"
    one = f"{base}/{{campaign_id}}"
    id_parameter = {
        "name": "campaign_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{ID_PATTERN}$"},
    }
    started = {
        HTTPStatus.CREATED: _json(schemas, StartedCampaign, f"the {noun} was started"),
        HTTPStatus.OK: _json(schemas, StartedCampaign, "already started with this very spec"),
    }
    optional = {"required": False}
    paths: dict[str, Any] = {
        base: {
            "post": _operation(
                schemas,
                f"start{title}",
                f"Start a {noun} (idempotent by campaign_id)",
                started,
                [*_BODY_PROBLEMS, HTTPStatus.CONFLICT],
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": schemas.ref(CampaignStartRequest, "validation")
                        },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["spec", "file"],
                                "properties": {
                                    "spec": schemas.ref(CampaignSpec, "validation"),
                                    "file": {
                                        "type": "string",
                                        "contentMediaType": "application/octet-stream",
                                    },
                                },
                            },
                            "encoding": {"spec": {"contentType": "application/json"}},
                        },
                    },
                },
            ),
            "get": _operation(
                schemas,
                f"list{title}s",
                f"Every {noun}, newest first",
                {HTTPStatus.OK: _json(schemas, CampaignList, f"the {noun}s")},
                [HTTPStatus.UNPROCESSABLE_ENTITY],
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
                    }
                ],
            ),
        },
        one: {
            "parameters": [id_parameter],
            "get": _operation(
                schemas,
                f"get{title}",
                f"A {noun}'s progress and phase",
                {HTTPStatus.OK: _json(schemas, CampaignState, f"the {noun}")},
                [HTTPStatus.NOT_FOUND],
            ),
        },
        f"{one}/report": {
            "parameters": [id_parameter],
            "get": _operation(
                schemas,
                f"get{title}Report",
                f"The {noun}'s report: every input row once (CSV or JSON, streamed)",
                {
                    HTTPStatus.OK: {
                        "description": "the report",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": schemas.ref(ReportRow, "serialization"),
                                }
                            },
                        },
                    }
                },
                [HTTPStatus.NOT_FOUND, HTTPStatus.NOT_ACCEPTABLE, HTTPStatus.UNPROCESSABLE_ENTITY],
                parameters=[
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["csv", "json"]},
                    }
                ],
            ),
        },
        f"{one}/retry": {
            "parameters": [id_parameter],
            "post": _operation(
                schemas,
                f"retry{title}",
                f"Start a new {noun} over the rows of an ended one that failed",
                {HTTPStatus.CREATED: _json(schemas, StartedCampaign, "the retry was started")},
                [*_BODY_PROBLEMS, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT],
                requestBody={
                    **optional,
                    "content": {
                        "application/json": {"schema": schemas.ref(RetryRequest, "validation")}
                    },
                },
            ),
        },
    }
    for control in CampaignControl:
        operation = _operation(
            schemas,
            f"{control.value}{title}",
            f"Send {control.value} to a running {noun}",
            {HTTPStatus.ACCEPTED: _json(schemas, ControlSent, "sent")},
            [*_BODY_PROBLEMS, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT],
        )
        if control is CampaignControl.CANCEL:
            operation["requestBody"] = {
                **optional,
                "content": {
                    "application/json": {"schema": schemas.ref(CancelRequest, "validation")}
                },
            }
        paths[f"{one}/{control.value}"] = {"parameters": [id_parameter], "post": operation}
    return paths


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 document."""
    schemas = _Schemas()
    paths: dict[str, Any] = {}
    for kind in CampaignKind:
        paths.update(_collection_paths(schemas, kind))
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "the OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "421": _problem(schemas, _PROBLEMS[HTTPStatus.MISDIRECTED_REQUEST]),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "simops",
            "version": "1",
            "description": "Campaigns and account migrations of Super SIMs, started, steered and "
            "reported over HTTP. Errors are RFC 9457 problem details.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
