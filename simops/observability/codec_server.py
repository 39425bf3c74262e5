"""`simops codec-server`: lets the Temporal Web UI and CLI read payloads encrypted by simops.

It follows Temporal's codec server convention: `POST /decode` and `POST /encode` take and return
`{"payloads": [...]}` (payloads in protobuf JSON: metadata values and data in base64), with the
`X-Namespace` header naming the namespace. The UI calls it from the browser, so it answers CORS
preflights for the configured UI origins only. Every request must carry
`Authorization: Bearer <SIMOPS_CODEC_TOKEN>`: whoever may call it reads every payload in clear.
It decodes with the same codec as the workers (`SIMOPS_PAYLOAD_KEY`, `SIMOPS_PAYLOAD_OLD_KEYS`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from simops.runtime.codec import PayloadDecryptionError

log = logging.getLogger(__name__)

ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
"""What the Temporal UI sends: the namespace, and the token when it passes one."""
MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Twice Temporal's 2 MB payload limit: a request carries a few payloads."""

PayloadTransform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class CodecServer:
    """The aiohttp application of the codec server."""

    def __init__(self, codec: PayloadCodec, *, origins: Collection[str], token: str | None):
        self._codec = codec
        self._origins = frozenset(origin.rstrip("/") for origin in origins)
        self._token = token

    def app(self) -> web.Application:
        """`/encode` and `/decode`, with their CORS preflights."""
        application = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for path, transform in (("/encode", self._codec.encode), ("/decode", self._codec.decode)):
            application.router.add_post(path, self._handler(transform))
            application.router.add_options(path, self._preflight)
        return application

    def _with_cors(self, request: web.Request, response: web.Response) -> web.Response:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin.rstrip("/") in self._origins:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST"
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
            # The UI's "include cross-origin credentials" option sends cookies and tokens.
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.VARY] = "Origin"
        return response

    async def _preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get(hdrs.ORIGIN, "")
        status = 204 if origin.rstrip("/") in self._origins else 403
        return self._with_cors(request, web.Response(status=status))

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        presented = request.headers.get(hdrs.AUTHORIZATION, "")
        return hmac.compare_digest(presented.encode(), f"Bearer {self._token}".encode())

    def _handler(
        self, transform: PayloadTransform
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return self._with_cors(request, await self._apply(transform, request))

        return handle

    async def _apply(self, transform: PayloadTransform, request: web.Request) -> web.Response:
        if not self._authorized(request):
            log.warning("codec request refused: no valid bearer token")
            return web.json_response(
                {"message": "a valid bearer token is required"},
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: "Bearer"},
            )
        try:
            payloads = json_format.Parse(await request.read(), Payloads())
        except json_format.ParseError as error:
            return web.json_response({"message": f"not a payloads object: {error}"}, status=400)
        try:
            transformed = await transform(payloads.payloads)
        except PayloadDecryptionError as error:
            # The message names a key id, never a key or what the payload holds.
            return web.json_response({"message": str(error)}, status=400)
        body = json_format.MessageToJson(Payloads(payloads=transformed))
        return web.Response(text=body, content_type="application/json")
