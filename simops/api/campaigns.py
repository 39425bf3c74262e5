"""The API's campaign and migration resources: start, list, read, steer, report and retry.

Every handler does what the CLI's command of the same name does, through the same functions
(`simops.clients`): `start_campaign` (once per ID and spec), `control_campaign`, `retry_spec`,
`campaign_summary`, `write_report_to`. Migrations are campaigns under the same IDs; each
collection answers only for its own kind, and points to the other.
"""

from __future__ import annotations

import asyncio
import csv
import json
import tempfile
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from simops.api.models import (
    INLINE_FILE_NAME,
    CampaignKind,
    CampaignList,
    CampaignStartRequest,
    CampaignState,
    CancelRequest,
    ControlSent,
    ListedCampaign,
    RetryRequest,
    SourceRow,
    StartedCampaign,
)
from simops.api.problems import Problem, bad_json, invalid
from simops.campaigns.sources import CampaignFile, FileSourceError, SourceError
from simops.campaigns.spec import CampaignAction, CampaignSpec
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignStoreError
from simops.clients.campaigns import (
    CampaignAlreadyStartedError,
    CampaignControl,
    CampaignNotRunningError,
    CampaignSpecConflictError,
    control_campaign,
    listed_campaign,
    listed_campaigns,
    start_campaign,
    started_spec,
)
from simops.clients.reports import REPORT_MEDIA_TYPES
from simops.clients.retries import (
    NothingToRetryError,
    RetriedCampaignRunningError,
    RetryIdInUseError,
    retry_spec,
)
from simops.clients.summaries import campaign_summary
from simops.clients.web_service import stream_report
from simops.runtime.settings import SimopsSettings

API_PREFIX = "/api/v1"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""A campaign ID, as `CampaignSpec` allows it."""
JSON_MEDIA_TYPE = "application/json"
MULTIPART_MEDIA_TYPE = "multipart/form-data"
MAX_UPLOAD_BYTES = 1 << 30
"""The largest campaign file an upload may carry (a million rows take about 40 MiB)."""
MAX_SPEC_PART_BYTES = 1 << 20
UPLOAD_CHUNK_BYTES = 1 << 16
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
INLINE_COLUMNS = ("sim", "fleet", "unique_name")

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class ApiContext:
    """What every handler uses: the process' settings and Temporal client."""

    settings: SimopsSettings
    client: Client


API_CONTEXT = web.AppKey("api_context", ApiContext)


def campaign_url(kind: CampaignKind, campaign_id: str) -> str:
    """Where a campaign (or migration) of `kind` is."""
    return f"{API_PREFIX}/{kind.value}/{campaign_id}"


def json_response(
    model: BaseModel, status: HTTPStatus = HTTPStatus.OK, **headers: str
) -> web.Response:
    """`model` as a JSON response."""
    return web.Response(
        status=int(status),
        text=model.model_dump_json(),
        content_type=JSON_MEDIA_TYPE,
        headers=headers,
    )


def _validated(model: type[ModelT], value: Any, where: str) -> ModelT:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise invalid(error, where) from None


def _loaded(text: bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise bad_json(error, where) from None


async def _json_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """The request's JSON body as `model`: 415 for another content type, 400 for bad JSON,
    422 for JSON that is not a `model`."""
    if request.content_type != JSON_MEDIA_TYPE:
        raise Problem(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            f"send the body as {JSON_MEDIA_TYPE}, not {request.content_type}",
        )
    return _validated(model, _loaded(await request.read(), "the body"), "body")


async def _optional_json_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """As `_json_body`, and `model`'s defaults when the request has no body at all."""
    if not request.body_exists:
        return model()
    body = await request.read()
    if not body:
        return model()
    if request.content_type != JSON_MEDIA_TYPE:
        raise Problem(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            f"send the body as {JSON_MEDIA_TYPE}, or none",
        )
    return _validated(model, _loaded(body, "the body"), "body")


def _write_inline_rows(rows: list[SourceRow], path: Path) -> None:
    """The rows as a campaign file: a header the file reader knows, one row a line."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(INLINE_COLUMNS)
        for row in rows:
            writer.writerow([row.sim, row.fleet or "", row.unique_name or ""])


async def _spec_from_json(request: web.Request, scratch: Path) -> tuple[CampaignSpec, Path | None]:
    start = await _json_body(request, CampaignStartRequest)
    if start.rows is None:
        return start.spec, None
    path = scratch / INLINE_FILE_NAME
    await asyncio.to_thread(_write_inline_rows, start.rows, path)
    return start.spec, path


async def _save_upload(part: BodyPartReader, path: Path) -> None:
    """The upload, chunk by chunk, to `path`; 413 past `MAX_UPLOAD_BYTES`."""
    size = 0
    with path.open("wb") as out:
        while chunk := await part.read_chunk(UPLOAD_CHUNK_BYTES):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise Problem(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    "too-large",
                    f"the campaign file is larger than {MAX_UPLOAD_BYTES >> 20} MiB",
                )
            out.write(chunk)


async def _spec_from_multipart(
    request: web.Request, scratch: Path
) -> tuple[CampaignSpec, Path | None]:
    """A multipart body: a `spec` part (the spec as JSON) and a `file` part (the campaign
    file); without a `source`, the spec's source is the file, under the upload's name."""
    spec_json: Any = None
    upload: Path | None = None
    upload_name = "upload.csv"
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name not in ("spec", "file"):
                raise Problem(
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    "invalid-request",
                    "a multipart start has two parts: `spec` (JSON) and `file`",
                )
            if part.name == "spec":
                text = await part.read()
                if len(text) > MAX_SPEC_PART_BYTES:
                    raise Problem(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too-large", "the spec part is large"
                    )
                spec_json = _loaded(bytes(text), "the spec part")
            else:
                upload = scratch / "upload"
                upload_name = Path(part.filename or upload_name).name or upload_name
                await _save_upload(part, upload)
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as error:
        # aiohttp's multipart reader says so when a body is not the multipart it claims.
        raise Problem(
            HTTPStatus.BAD_REQUEST,
            "malformed-multipart",
            f"the multipart body is malformed: {error}",
        ) from None
    if spec_json is None or upload is None:
        raise Problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid-request",
            "a multipart start needs a `spec` part (JSON) and a `file` part",
        )
    if isinstance(spec_json, dict) and "source" not in spec_json:
        spec_json = {**spec_json, "source": {"file_name": upload_name}}
    return _validated(CampaignSpec, spec_json, "spec"), upload


def _check_start(kind: CampaignKind, spec: CampaignSpec, source_file: Path | None) -> None:
    """What the API starts: a campaign of its collection's kind, reading the file it was given
    or a filter (a retry is `POST …/retry`; a rollback is `simops migrate rollback`)."""

    def refuse(detail: str) -> Problem:
        return Problem(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-spec", detail)

    if not kind.holds(spec.action):
        other = (
            CampaignKind.CAMPAIGNS if kind is CampaignKind.MIGRATIONS else CampaignKind.MIGRATIONS
        )
        raise refuse(f"action {spec.action.value} is a {other.noun}: POST {API_PREFIX}/{other}")
    if spec.action is CampaignAction.ROLLBACK or spec.source.rollback_of is not None:
        raise refuse("a rollback is started with `simops migrate rollback`, not the API")
    if spec.source.retry_of is not None:
        raise refuse(f"a retry is started with POST {API_PREFIX}/{kind}/ID/retry")
    if spec.source.file_name is not None and source_file is None:
        raise refuse(
            "the spec's source is a file: send it (multipart part `file`) or its rows (`rows`)"
        )
    if spec.source.file_name is None and source_file is not None:
        raise refuse("rows or a file were sent, but the spec's source is a filter: give one")


def _check_source_file(source_file: Path, file_name: str) -> None:
    """What makes a file unreadable, refused before anything is started (as the CLI does)."""
    try:
        CampaignFile.open(source_file)
    except FileSourceError as error:
        raise Problem(
            HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-source", error.about(Path(file_name))
        ) from None
    except SourceError as error:
        raise Problem(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-source", str(error)) from None


def not_found(kind: CampaignKind, campaign_id: str) -> Problem:
    """404: no campaign (or migration) of this ID."""
    return Problem(HTTPStatus.NOT_FOUND, f"{kind.noun}-not-found", f"no {kind.noun} {campaign_id}")


class CampaignResource:
    """The handlers of one collection (`campaigns` or `migrations`)."""

    def __init__(self, kind: CampaignKind) -> None:
        self.kind = kind

    def routes(self) -> list[web.RouteDef]:
        """Every route of the collection, under `API_PREFIX`."""
        base = f"{API_PREFIX}/{self.kind.value}"
        one = f"{base}/{{campaign_id:{ID_PATTERN}}}"
        controls = "|".join(CampaignControl)
        return [
            web.post(base, self.start),
            web.get(base, self.list_all),
            web.get(one, self.get_one),
            web.post(f"{one}/{{control:{controls}}}", self.control),
            web.get(f"{one}/report", self.report),
            web.post(f"{one}/retry", self.retry),
        ]

    async def _action(self, context: ApiContext, campaign_id: str) -> CampaignAction:
        """The campaign's action; 404 when it was never started, or is of the other kind."""
        listed = await listed_campaign(context.client, context.settings, campaign_id)
        if listed is None:
            raise not_found(self.kind, campaign_id)
        action = listed.action or (await started_spec(context.client, campaign_id)).action
        self._check_kind(campaign_id, action)
        return action

    def _check_kind(self, campaign_id: str, action: CampaignAction) -> None:
        if not self.kind.holds(action):
            other = self.kind.other
            raise Problem(
                HTTPStatus.NOT_FOUND,
                f"{self.kind.noun}-not-found",
                f"{campaign_id} is not a {self.kind.noun}: see {API_PREFIX}/{other}/{campaign_id}",
            )

    async def start(self, request: web.Request) -> web.Response:
        """Start a campaign from its spec (JSON, with rows inline, or multipart with a file);
        the same ID and spec again starts nothing (200), another spec is refused (409)."""
        context = request.app[API_CONTEXT]
        with tempfile.TemporaryDirectory(prefix="simops-api-") as scratch:
            if request.content_type == JSON_MEDIA_TYPE:
                spec, source_file = await _spec_from_json(request, Path(scratch))
            elif request.content_type == MULTIPART_MEDIA_TYPE:
                spec, source_file = await _spec_from_multipart(request, Path(scratch))
            else:
                raise Problem(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    f"send the spec as {JSON_MEDIA_TYPE} or {MULTIPART_MEDIA_TYPE}",
                )
            _check_start(self.kind, spec, source_file)
            if source_file is not None:
                await asyncio.to_thread(
                    _check_source_file, source_file, spec.source.file_name or INLINE_FILE_NAME
                )
            return await self._started(context, spec, source_file)

    async def _started(
        self, context: ApiContext, spec: CampaignSpec, source_file: Path | None
    ) -> web.Response:
        url = campaign_url(self.kind, spec.campaign_id)
        try:
            await start_campaign(context.client, context.settings, spec, source_file)
        except CampaignSpecConflictError as conflict:
            raise Problem(
                HTTPStatus.CONFLICT,
                "campaign-spec-conflict",
                str(conflict).replace("give another --id", "give another campaign_id"),
                differences=conflict.differences,
            ) from None
        except CampaignAlreadyStartedError:
            started = StartedCampaign(
                campaign_id=spec.campaign_id, action=spec.action, created=False, url=url
            )
            return json_response(started, HTTPStatus.OK, Location=url)
        except CampaignStoreError as error:
            raise Problem(HTTPStatus.CONFLICT, "campaign-store-refused", str(error)) from None
        started = StartedCampaign(
            campaign_id=spec.campaign_id, action=spec.action, created=True, url=url
        )
        return json_response(started, HTTPStatus.CREATED, Location=url)

    async def list_all(self, request: web.Request) -> web.Response:
        """Every campaign of the collection, newest first (`?limit=`, default 100)."""
        context = request.app[API_CONTEXT]
        limit = _limit(request)
        found: list[ListedCampaign] = []
        async for listed in listed_campaigns(context.client, context.settings):
            # A campaign whose store is elsewhere has no known action: it lists as a campaign.
            action = listed.action or CampaignAction.ACTIVATE
            if not self.kind.holds(action):
                continue
            found.append(
                ListedCampaign(
                    campaign_id=listed.campaign_id,
                    action=listed.action,
                    status=listed.status.name.lower() if listed.status else "unknown",
                    started_at=listed.started_at,
                    closed_at=listed.closed_at,
                    url=campaign_url(self.kind, listed.campaign_id),
                )
            )
            if len(found) >= limit:
                break
        return json_response(CampaignList(campaigns=found))

    async def get_one(self, request: web.Request) -> web.Response:
        """The campaign's state: `simops campaign status -o json`, and the phase to show."""
        context = request.app[API_CONTEXT]
        campaign_id = request.match_info["campaign_id"]
        listed = await listed_campaign(context.client, context.settings, campaign_id)
        if listed is None:
            raise not_found(self.kind, campaign_id)
        summary = await campaign_summary(context.client, context.settings, listed)
        self._check_kind(campaign_id, summary.progress.action)
        state = CampaignState(
            campaign_id=campaign_id,
            phase=summary.phase,
            running=summary.running,
            note=summary.note,
            progress=summary.progress,
        )
        return json_response(state)

    async def control(self, request: web.Request) -> web.Response:
        """Pause, resume or cancel (with an optional `reason`) a running campaign; 409 when it
        is not running."""
        context = request.app[API_CONTEXT]
        campaign_id = request.match_info["campaign_id"]
        control = CampaignControl(request.match_info["control"])
        reason = ""
        if control is CampaignControl.CANCEL:
            reason = (await _optional_json_body(request, CancelRequest)).reason
        await self._action(context, campaign_id)
        try:
            await control_campaign(context.client, campaign_id, control, reason)
        except CampaignNotRunningError:
            raise Problem(
                HTTPStatus.CONFLICT,
                f"{self.kind.noun}-not-running",
                f"{self.kind.noun} {campaign_id} is not running: it takes no {control}",
            ) from None
        return json_response(
            ControlSent(campaign_id=campaign_id, control=control), HTTPStatus.ACCEPTED
        )

    async def report(self, request: web.Request) -> web.StreamResponse:
        """The campaign's report, every input row once, as CSV or JSON (`?format=` or
        `Accept`), streamed from a file it is first written to."""
        context = request.app[API_CONTEXT]
        campaign_id = request.match_info["campaign_id"]
        fmt = _report_format(request)
        await self._action(context, campaign_id)
        response = await stream_report(request, context.settings, campaign_id, fmt)
        if response is None:
            raise Problem(
                HTTPStatus.NOT_FOUND,
                "report-not-here",
                f"no store of {self.kind.noun} {campaign_id} here: no report on this machine",
            )
        return response

    async def retry(self, request: web.Request) -> web.Response:
        """Start a new campaign over the rows of an ended one that failed, as
        `simops campaign retry` does; 409 when it still runs or nothing failed."""
        context = request.app[API_CONTEXT]
        campaign_id = request.match_info["campaign_id"]
        asked = await _optional_json_body(request, RetryRequest)
        earlier = await asyncio.to_thread(_stored_spec, context.settings, campaign_id)
        if earlier is None:
            raise not_found(self.kind, campaign_id)
        self._check_kind(campaign_id, earlier.action)
        noun = self.kind.noun
        try:
            spec = await retry_spec(
                context.client,
                context.settings,
                earlier,
                new_id=asked.id,
                only_codes=asked.only_codes,
                include_cancelled=asked.include_cancelled,
            )
        except RetriedCampaignRunningError:
            raise Problem(
                HTTPStatus.CONFLICT,
                f"{noun}-running",
                f"{noun} {campaign_id} is still running: what failed is known once it ends "
                f"(wait, or POST {campaign_url(self.kind, campaign_id)}/cancel and let it settle)",
            ) from None
        except RetryIdInUseError as in_use:
            raise Problem(
                HTTPStatus.CONFLICT,
                "campaign-id-in-use",
                f"id {in_use.campaign_id} is already used: give another",
            ) from None
        except NothingToRetryError:
            raise Problem(
                HTTPStatus.CONFLICT,
                "nothing-to-retry",
                f"no row of {noun} {campaign_id} ended as asked: nothing to retry",
            ) from None
        except ValidationError as error:
            raise invalid(error, "body") from None
        return await self._started(context, spec, None)


def _stored_spec(settings: SimopsSettings, campaign_id: str) -> CampaignSpec | None:
    """The spec in the campaign's store (`None` when this machine has none)."""
    try:
        with CampaignStore.open(store_backend(settings), campaign_id) as store:
            return store.spec
    except CampaignStoreError:
        return None


def _limit(request: web.Request) -> int:
    text = request.query.get("limit")
    if text is None:
        return DEFAULT_LIST_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIST_LIMIT:
        raise Problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid-request",
            f"limit is a whole number from 1 to {MAX_LIST_LIMIT}",
        )
    return int(text)


def _report_format(request: web.Request) -> str:
    """`?format=csv|json`, else what `Accept` prefers of the two (JSON when it says nothing);
    406 when it accepts neither."""
    asked = request.query.get("format")
    if asked is not None:
        if asked not in REPORT_MEDIA_TYPES:
            raise Problem(
                HTTPStatus.UNPROCESSABLE_ENTITY, "invalid-request", "format is csv or json"
            )
        return asked
    accepted = _accepted(request.headers.get("Accept", "*/*"))
    for media_type in accepted:
        for fmt, offered in REPORT_MEDIA_TYPES.items():
            if media_type in (offered, offered.split("/")[0] + "/*"):
                return fmt
        if media_type == "*/*":
            return "json"
    raise Problem(
        HTTPStatus.NOT_ACCEPTABLE,
        "not-acceptable",
        "the report is text/csv or application/json (or ?format=csv|json)",
    )


def _accepted(header: str) -> list[str]:
    """The media types of an `Accept` header, most wanted first (`q=0` ones left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        media_type, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type and quality > 0:
            ranked.append((-quality, position, media_type.lower()))
    return [media_type for _, _, media_type in sorted(ranked)]
