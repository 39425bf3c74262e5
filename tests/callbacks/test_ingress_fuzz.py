"""Fuzzed requests against the real ingress app: never a 5xx, only verified callbacks signalled.

The ingress runs as it does in production (its aiohttp app over real HTTP); only Temporal is
replaced, by a signaller that records what it is asked to deliver.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from yarl import URL

from simops.callbacks.ingress import MAX_CALLBACK_BYTES, CallbackIngress
from simops.callbacks.urls import CALLBACK_PATH_PREFIX, ROUTABLE_WORKFLOW_ID, callback_token
from simops.core.sim import SimStatus
from simops.runtime.settings import SimopsSettings
from simops.sim_messages import SimCallbackBatch
from simops.supersim.signatures import (
    KORE_IDEMPOTENCY_HEADER,
    KORE_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    kore_signature,
    twilio_signature,
)

PUBLIC_BASE = "https://callbacks.example.com"
"""The URL the provider signs (the ingress is behind a proxy), so the test can sign it too."""

CALLBACK_SECRET = "fuzz-callback-secret-0123456789"
SIGNED_ACCOUNT = "AC" + "a" * 32
"""An account with a KORE webhook secret and a Twilio Auth Token configured."""
UNSIGNED_ACCOUNT = "AC" + "b" * 32
"""An account the settings know no secret for: where providers sign, its callbacks are refused."""
WEBHOOK_SECRET = "fuzz-webhook-secret-abcdef"
AUTH_TOKEN = "fuzz-auth-token-0123456789abcdef"

FUZZ_SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@dataclass
class RecordingSignaller:
    """Stands in for Temporal: records every batch it is asked to signal."""

    signals: list[tuple[str, SimCallbackBatch]] = field(default_factory=list)

    async def __call__(self, workflow_id: str, batch: SimCallbackBatch) -> bool:
        self.signals.append((workflow_id, batch))
        return True


def fuzz_settings() -> SimopsSettings:
    return SimopsSettings(
        _env_file=None,
        callback_secret=SecretStr(CALLBACK_SECRET),
        callback_base_url=PUBLIC_BASE,
        kore_webhook_secrets={SIGNED_ACCOUNT: SecretStr(WEBHOOK_SECRET)},
        twilio_auth_tokens={SIGNED_ACCOUNT: SecretStr(AUTH_TOKEN)},
    )


async def send(
    method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, RecordingSignaller]:
    """One request to a fresh ingress; its status and what it signalled."""
    signaller = RecordingSignaller()
    ingress = CallbackIngress(fuzz_settings(), signaller)
    async with TestClient(TestServer(ingress.app())) as client:
        # Sent as signed: a re-encoded query (`%2C` → `,`) is another URL, whose signature
        # a provider never made.
        url = URL(path, encoded=True)
        response = await client.request(method, url, data=body, headers=headers)
        await response.read()
        return response.status, signaller


# Braces excepted: aiohttp routes no path segment with them (a 404), and no simops workflow ID
# (`sim-HS…`, `campaign-<id>-batch-<n>` with a restricted id) has them.
WORKFLOW_IDS = (
    st.sampled_from(["sim-HS" + "1" * 32, "campaign-c1-batch-3", "x", "sim-ünï"])
    | st.from_regex(ROUTABLE_WORKFLOW_ID, fullmatch=True)
    | st.text(st.characters(codec="utf-8", exclude_characters="/{}"), min_size=1, max_size=30)
).filter(lambda workflow_id: workflow_id not in (".", ".."))
"""Workflow IDs a callback URL can carry: `.` and `..` are path steps that URL normalization
removes (a 404, never a signal), and simops never names a workflow so."""
STATUSES = st.sampled_from([status.value for status in SimStatus]) | st.text(max_size=10)
SIM_SIDS = st.sampled_from(["HS" + "2" * 32, ""]) | st.text(max_size=40)


@dataclass(frozen=True)
class Callback:
    """A callback as a provider (or an attacker) might send it."""

    method: str
    workflow_id: str
    url_token: str
    fields: list[tuple[str, str]]
    account: str | None
    signing: str
    content_type: str
    idempotency_token: str

    def path(self) -> str:
        return f"{CALLBACK_PATH_PREFIX}/{quote(self.workflow_id, safe='')}/{self.url_token}"

    def request(self) -> tuple[str, bytes, dict[str, str]]:
        """Path (with the query of a GET), body and headers."""
        params = list(self.fields)
        if self.account is not None:
            params.append(("AccountSid", self.account))
        query = f"?{urlencode(params)}" if self.method == "GET" else ""
        body = b"" if self.method == "GET" else urlencode(params).encode()
        path = self.path() + query
        url = PUBLIC_BASE + path
        headers = {
            "Content-Type": self.content_type,
            KORE_IDEMPOTENCY_HEADER: self.idempotency_token,
        }
        signed_params = params if self.method == "POST" else []
        secrets = {
            "valid": (WEBHOOK_SECRET, AUTH_TOKEN),
            "wrong-secret": ("not-the-webhook-secret", "not-the-auth-token"),
        }
        if self.signing in secrets:
            webhook_secret, auth_token = secrets[self.signing]
            headers[KORE_SIGNATURE_HEADER] = kore_signature(webhook_secret, self.method, url, body)
            headers[TWILIO_SIGNATURE_HEADER] = twilio_signature(auth_token, url, signed_params)
        elif self.signing == "garbage":
            headers[KORE_SIGNATURE_HEADER] = "0" * 64
            headers[TWILIO_SIGNATURE_HEADER] = "AAAA"
        return path, body, headers

    def genuine(self) -> bool:
        """Whether the ingress must take it: authentic URL, well-formed, signed where it can be."""
        fields = dict(self.fields)
        authentic_url = bool(
            ROUTABLE_WORKFLOW_ID.match(self.workflow_id)
        ) and self.url_token == callback_token(CALLBACK_SECRET, self.workflow_id)
        # An empty SimSid is taken (the workflow drops a callback for another SIM anyway).
        well_formed = "SimSid" in fields and fields.get("SimStatus") in {
            status.value for status in SimStatus
        }
        # Providers sign here, so a callback must name the signing account and verify.
        signed = self.account == SIGNED_ACCOUNT and self.signing == "valid"
        return authentic_url and well_formed and signed


@st.composite
def callbacks(draw: st.DrawFn) -> Callback:
    """Callbacks that are right or wrong in one or several ways, about as often each."""
    workflow_id = draw(WORKFLOW_IDS)
    true_token = callback_token(CALLBACK_SECRET, workflow_id)
    forged_token = st.sampled_from([true_token.upper(), "0" * 32, true_token[:-1]]) | st.text(
        alphabet="0123456789abcdef", min_size=1, max_size=40
    )
    core = {
        "SimSid": draw(st.just("HS" + "2" * 32) | SIM_SIDS),
        "SimStatus": draw(st.sampled_from([status.value for status in SimStatus]) | STATUSES),
    }
    for dropped in draw(st.sets(st.sampled_from(sorted(core)), max_size=1)):
        del core[dropped]
    # Extra parameters may repeat a core one: the last occurrence is the one that counts.
    extras = draw(
        st.lists(
            st.tuples(st.sampled_from(["SimUniqueName", "Extra", "SimSid"]), st.text(max_size=40)),
            max_size=2,
        )
    )
    return Callback(
        method=draw(st.sampled_from(["POST", "GET"])),
        workflow_id=workflow_id,
        url_token=true_token if draw(st.booleans()) else draw(forged_token),
        fields=[*core.items(), *extras],
        account=draw(st.sampled_from([SIGNED_ACCOUNT, SIGNED_ACCOUNT, UNSIGNED_ACCOUNT, None])),
        signing=draw(st.sampled_from(["valid", "valid", "wrong-secret", "garbage", "absent"])),
        content_type=draw(
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "application/json",
                    "text/plain; charset=latin-1",
                    "multipart/form-data; boundary=x",
                ]
            )
        ),
        idempotency_token=str(uuid.uuid4()),
    )


@FUZZ_SETTINGS
@given(callback=callbacks())
async def test_exactly_the_genuine_callbacks_are_signalled(callback: Callback) -> None:
    path, body, headers = callback.request()

    status, signaller = await send(callback.method, path, body, headers)

    assert status < 500
    if callback.genuine():
        assert status == 200
        ((workflow_id, batch),) = signaller.signals
        assert workflow_id == callback.workflow_id
        (signalled,) = batch.callbacks
        assert signalled.sim_sid == dict(callback.fields)["SimSid"]
        assert signalled.account_sid == callback.account
        assert signalled.idempotency_token == callback.idempotency_token
    else:
        assert signaller.signals == []
        assert status in (400, 403)


HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
CHAOS_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "Content-Encoding",
            KORE_SIGNATURE_HEADER,
            TWILIO_SIGNATURE_HEADER,
            KORE_IDEMPOTENCY_HEADER,
            "X-Forwarded-Host",
            "Host",
        ]
    ),
    HEADER_VALUES,
    max_size=5,
)
CHAOS_PATHS = st.one_of(
    st.just("/"),
    st.just(CALLBACK_PATH_PREFIX),
    st.just(CALLBACK_PATH_PREFIX + "/only-one-segment"),
    st.just(CALLBACK_PATH_PREFIX + "/%FF%FE%00/" + "0" * 32),
    st.builds(
        lambda workflow, token, rest: f"{CALLBACK_PATH_PREFIX}/{workflow}/{token}{rest}",
        st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#"),
            min_size=1,
            max_size=40,
        ),
        st.text(alphabet="0123456789abcdefXYZ%", max_size=40),
        st.sampled_from(["", "/", "/extra", "?SimSid=x&SimStatus=active", "#frag"]),
    ),
)


@FUZZ_SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=CHAOS_PATHS,
    body=st.binary(max_size=600),
    huge=st.booleans(),
    headers=CHAOS_HEADERS,
)
async def test_forged_or_malformed_requests_never_signal_nor_fail(
    method: str, path: str, body: bytes, huge: bool, headers: dict[str, str]
) -> None:
    if huge:
        body += b"SimSid=HS&SimStatus=active&" * (MAX_CALLBACK_BYTES // 20)

    status, signaller = await send(method, path, body, headers)

    assert status < 500
    assert signaller.signals == []


@FUZZ_SETTINGS
@given(body=st.binary(max_size=400), huge=st.booleans(), headers=CHAOS_HEADERS)
async def test_garbage_bodies_on_an_authentic_url_are_refused_or_verified(
    body: bytes, huge: bool, headers: dict[str, str]
) -> None:
    workflow_id = "sim-HS" + "3" * 32
    path = f"{CALLBACK_PATH_PREFIX}/{workflow_id}/{callback_token(CALLBACK_SECRET, workflow_id)}"
    body = b"AccountSid=" + SIGNED_ACCOUNT.encode() + b"&" + body
    if huge:
        body += b"x" * MAX_CALLBACK_BYTES

    status, signaller = await send("POST", path, body, headers)

    assert status < 500
    # Every body names the signed account, and no chaos header carries its valid signature.
    assert signaller.signals == []
    assert status in (400, 403, 413)


def test_the_strategies_reach_genuine_and_forged_callbacks() -> None:
    """Guards the oracle: generated callbacks must include both kinds."""
    kinds: list[bool] = []

    @settings(max_examples=1000, deadline=None)
    @given(callback=callbacks())
    def collect(callback: Callback) -> None:
        kinds.append(callback.genuine())

    collect()
    assert kinds.count(True) >= 3 and kinds.count(False) >= 10
