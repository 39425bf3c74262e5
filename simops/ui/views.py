"""The dashboard's pages, forms and downloads.

Pages are whole documents that read well without JavaScript; `…/live` renders the part of a
page that changes, which `static/live.js` fetches every 1.5 s and swaps in. The server renders
(and escapes) everything: the script never builds HTML from data.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from simops.campaigns.reports import REPORT_FORMATS
from simops.campaigns.spec import CampaignAction
from simops.clients.campaigns import CampaignControl, CampaignNotRunningError
from simops.clients.summaries import PHASES, CampaignSummary
from simops.clients.web_service import stream_report
from simops.ui.campaigns import Dashboard
from simops.ui.security import LOGIN_COOKIE, Guard

DASHBOARD = web.AppKey("dashboard", Dashboard)
GUARD = web.AppKey("guard", Guard)
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""A campaign ID, as `CampaignSpec` allows it: safe in a path and a file name."""
SENT_MESSAGES = {
    "pause": "pause sent: no new batch starts; SIMs in flight finish",
    "resume": "resume sent",
    "cancel": "cancel sent: SIMs in flight settle, the rest is reported cancelled",
}
DEFAULT_CANCEL_REASON = "cancelled from the dashboard"

routes = web.RouteTableDef()


def _filters(request: web.Request) -> dict[str, str]:
    """The campaigns page's filters that name a known phase or action (others are ignored)."""
    actions = {action.value for action in CampaignAction}
    wanted = {
        "phase": request.query.get("phase", ""),
        "action": request.query.get("action", ""),
    }
    known = {"phase": set(PHASES), "action": actions}
    return {name: value for name, value in wanted.items() if value in known[name]}


def _matching(summaries: list[CampaignSummary], filters: dict[str, str]) -> list[CampaignSummary]:
    return [
        summary
        for summary in summaries
        if filters.get("phase", summary.phase) == summary.phase
        and filters.get("action", summary.progress.action.value) == summary.progress.action.value
    ]


async def _campaigns_context(request: web.Request) -> dict[str, Any]:
    filters = _filters(request)
    summaries = await request.app[DASHBOARD].campaigns()
    return {
        "campaigns": _matching(summaries, filters),
        "listed": len(summaries),
        "filters": filters,
        "live_url": "/live" + (f"?{urlencode(filters)}" if filters else ""),
    }


@routes.get("/")
@aiohttp_jinja2.template("campaigns.html")
async def campaigns_page(request: web.Request) -> dict[str, Any]:
    """Every campaign and migration, with filters by phase and action."""
    context = await _campaigns_context(request)
    context.update(phases=PHASES, actions=[action.value for action in CampaignAction])
    return context


@routes.get("/live")
@aiohttp_jinja2.template("campaigns_live.html")
async def campaigns_live(request: web.Request) -> dict[str, Any]:
    """The table of the campaigns page, for live updates."""
    return await _campaigns_context(request)


async def _detail_context(request: web.Request) -> dict[str, Any]:
    campaign_id = request.match_info["campaign_id"]
    detail = await request.app[DASHBOARD].detail(campaign_id)
    if detail is None:
        raise web.HTTPNotFound(text=f"no campaign {campaign_id}")
    settings = request.app[DASHBOARD].settings
    return {"detail": detail, "summary": detail.summary, "api_max_rps": settings.api_max_rps}


@routes.get(f"/campaigns/{{campaign_id:{ID_PATTERN}}}")
@aiohttp_jinja2.template("campaign.html")
async def campaign_page(request: web.Request) -> dict[str, Any]:
    """One campaign: counts, failures, throughput, controls and report downloads."""
    context = await _detail_context(request)
    context["sent"] = SENT_MESSAGES.get(request.query.get("sent", ""))
    context["formats"] = REPORT_FORMATS
    return context


@routes.get(f"/campaigns/{{campaign_id:{ID_PATTERN}}}/live")
@aiohttp_jinja2.template("campaign_live.html")
async def campaign_live(request: web.Request) -> dict[str, Any]:
    """What changes on a campaign page, for live updates."""
    return await _detail_context(request)


@routes.get(f"/campaigns/{{campaign_id:{ID_PATTERN}}}/progress.json")
async def campaign_progress_json(request: web.Request) -> web.Response:
    """The campaign's progress in the shape of `simops campaign status -o json`."""
    campaign_id = request.match_info["campaign_id"]
    summary = await request.app[DASHBOARD].campaign(campaign_id)
    if summary is None:
        raise web.HTTPNotFound(text=f"no campaign {campaign_id}")
    return web.Response(text=summary.progress.model_dump_json(), content_type="application/json")


@routes.get(f"/campaigns/{{campaign_id:{ID_PATTERN}}}/report.{{fmt:csv|json}}")
async def report(request: web.Request) -> web.StreamResponse:
    """The campaign's report, every input row once, as `simops campaign report` writes it."""
    campaign_id, fmt = request.match_info["campaign_id"], request.match_info["fmt"]
    settings = request.app[DASHBOARD].settings
    response = await stream_report(request, settings, campaign_id, fmt)
    if response is None:
        raise web.HTTPNotFound(text=f"no report of {campaign_id} on this machine")
    return response


@routes.post(f"/campaigns/{{campaign_id:{ID_PATTERN}}}/{{signal:{'|'.join(CampaignControl)}}}")
async def control(request: web.Request) -> web.Response:
    """Pause, resume or cancel the campaign (the CSRF token was checked before), then show
    its page again."""
    campaign_id, signal = request.match_info["campaign_id"], request.match_info["signal"]
    form = await request.post()
    reason = str(form.get("reason", "")).strip() or DEFAULT_CANCEL_REASON
    try:
        await request.app[DASHBOARD].control(campaign_id, CampaignControl(signal), reason)
    except CampaignNotRunningError:
        raise web.HTTPConflict(text=f"campaign {campaign_id} is not running") from None
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}?sent={signal}")


def _local_path(target: str) -> str:
    """`target` when it is a path of this site, else `/`: a login never sends a visitor away."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@routes.get("/login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    """The form that asks for SIMOPS_UI_TOKEN."""
    return {"next": _local_path(request.query.get("next", "/")), "wrong": False}


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    """Check the token; on success set the login cookie and go where the visitor was going."""
    form = await request.post()
    target = _local_path(str(form.get("next", "/")))
    guard = request.app[GUARD]
    if not guard.accepts_token(str(form.get("token", ""))):
        context = {"next": target, "wrong": True}
        return aiohttp_jinja2.render_template("login.html", request, context, status=403)
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        LOGIN_COOKIE, guard.login_cookie(), httponly=True, samesite="Strict", secure=request.secure
    )
    raise response
