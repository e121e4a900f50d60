"""How the console answers: HTML from its templates (autoescaped), with headers that keep the
page from being framed, cached or given scripts from elsewhere; and what it reads of a request
(the session cookie, a form)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from withdraw_service.api.body import read_body
from withdraw_service.console import session as sessions
from withdraw_service.console.session import ConsoleSession
from withdraw_service.domain.errors import Forbidden, RequestValidationError
from withdraw_service.logs import mask, mask_account
from withdraw_service.settings import Settings

# The largest form the console accepts: a note of 2,000 characters, each up to 12 bytes once
# percent-encoded, and the rest of the form.
FORM_LIMIT = 64 * 1024
HEADERS = {
    # Only this app's own stylesheet and script; no frames, no plugins, forms post here only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def age(since: datetime, now: datetime | None = None) -> str:
    """'3 d 4 h', '2 h 5 min', '40 s': how long ago, to the two largest units."""
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def money(amount: Decimal, currency: str = "USD") -> str:
    return f"{currency} {amount:,.2f}"


def when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("withdraw_service.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(age=age, money=money, when=when, masked=mask, account=mask_account)
    return env


TEMPLATES = _environment()


def page(
    request: Request,
    template: str,
    session: ConsoleSession | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    html = TEMPLATES.get_template(template).render(
        session=session,
        path=request.url.path,
        temporal_ui=settings.effective_temporal_ui_url,
        namespace=settings.temporal_namespace,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def current(request: Request) -> ConsoleSession:
    """The signed-in operator, or `Unauthenticated` (the pages answer it with the sign-in)."""
    settings: Settings = request.app.state.settings
    return sessions.read(
        request.cookies.get(sessions.COOKIE), settings.jwt_secret.get_secret_value()
    )


async def form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body, read up to `FORM_LIMIT` bytes (a larger one
    is refused before it is all read); a field given twice keeps its first value."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise RequestValidationError("expected a form (application/x-www-form-urlencoded)")
    body = await read_body(request, FORM_LIMIT)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise RequestValidationError("the form is not UTF-8") from None
    return {name: values[0] for name, values in fields.items()}


def same_origin(request: Request) -> None:
    """Only the console's own pages may post: a browser says where a form comes from
    (`Origin`, or at least `Sec-Fetch-Site`); a request that says neither is refused too.
    The origin is `WITHDRAW_CONSOLE_ORIGIN` where set (behind a proxy that ends TLS), else
    the one this request was addressed to."""
    settings: Settings = request.app.state.settings
    own = (settings.console_origin or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin != own:
            raise Forbidden("the form was not posted from this console")
        return
    if request.headers.get("sec-fetch-site") != "same-origin":
        raise Forbidden("the form does not say where it comes from; post it from the console")
