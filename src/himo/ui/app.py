"""The dashboard's FastAPI app: pages (Jinja2, autoescaped), the JSON API under /api (OpenAPI at
/api/docs, served from the packaged swagger-ui: no network), and two guards in front of both.

    create_app(store, repo=None, token=None, hosts=None)

Guards: a request whose `Host` header is not one of `hosts` (default: the loopback names on any
port) is refused with 400, so a page on another site cannot read a dashboard through a name it
points at 127.0.0.1 (DNS rebinding). With a token, every request must carry it (`Authorization:
Bearer TOKEN`, the `himo_token` cookie, or `?token=TOKEN` once, which sets the cookie), else 401.
A request path with a `..` segment (plain or percent-encoded) is refused with 400 before any
route sees it. Every response forbids framing and, with a Content-Security-Policy, any script but
the dashboard's own files and its pages' inline calls (a nonce per response): no injected markup
can run. Read-only: only GET routes exist. Errors have one JSON body, {"error": ..., "hint": ...}.
Responses over 1 KB are gzipped when the client accepts it; static files may be cached an hour
(then revalidated by their ETag).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.middleware.gzip import GZipMiddleware

from himo import __version__
from himo.errors import HimoError, MetaError, MetaUnreachableError, UsageError
from himo.meta.store import Store
from himo.ui.server import LOOPBACK_NAMES
from himo.workspace.repo import Repo

HERE = Path(__file__).parent
COOKIE = "himo_token"
FAVICON = "/static/favicon.svg"
BACK_LINK = ('<body><p style="margin:8px 20px;font:14px system-ui,sans-serif">'
             '<a href="/runs" id="back-to-dashboard">&larr; himo dashboard</a></p>')
# 'unsafe-inline' styles only: the pages position bars with style attributes; no script can run
# from them. data: images are Swagger UI's icons.
CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
STATIC_CACHE = "public, max-age=3600"  # an upgraded himo's files are picked up within the hour
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def not_found(message: str, hint: str = "") -> MetaError:
    """A run, execution or artifact the store does not have: a MetaError answered with HTTP 404."""
    error = MetaError(message, hint)
    error.http_status = 404  # type: ignore[attr-defined]
    return error


class Dashboard:
    """What every route needs: the store's reader (which delivers the repository's pending journals
    before a read, when they changed: runs in progress show), and the repository when started in one."""

    def __init__(self, store: Store, repo: Repo | None) -> None:
        from himo.api.recording import journal_of
        from himo.meta.reads import MetaReader

        self.store = store
        self.meta = MetaReader(store, journal_of(repo, store) if repo is not None else None)
        self.repo = repo
        self.pages = Environment(loader=FileSystemLoader(HERE / "templates"),
                                 autoescape=select_autoescape(["html"], default=True))
        self.pages.filters.update(duration=duration, short=lambda digest: (digest or "")[:12], day=day)

    def render(self, name: str, request: Request, **values: Any) -> HTMLResponse:
        html = self.pages.get_template(name).render(request=request, repo=self.repo, store=self.store.name,
                                                   version=__version__, nonce=nonce_of(request), **values)
        return HTMLResponse(html)


def duration(value: float | None) -> str:
    """Seconds as people read them: 0.4 s, 12 s, 3 min 5 s, 2 h 10 min."""
    if value is None:
        return "–"
    if value < 10:
        return f"{value:.1f} s"
    if value < 60:
        return f"{value:.0f} s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def day(value: str) -> str:
    """An ISO date (YYYY-MM-DD...) as a short day label: 27 Nov."""
    try:
        return f"{int(value[8:10])} {MONTHS[int(value[5:7]) - 1]}"
    except (ValueError, IndexError):
        return value


def nonce_of(request: Request) -> str:
    """This response's script nonce (the CSP header names it; inline scripts carry it)."""
    return getattr(request.state, "csp_nonce", "")


def create_app(store: Store, repo: Repo | None = None, token: str | None = None,
               hosts: Collection[str] | None = None) -> FastAPI:
    """The app over an opened store; `token` (None: no auth, for loopback only) guards everything;
    `hosts`: the Host header values it answers, NAME or NAME:PORT (default: loopback names, any
    port; "*": any)."""
    from himo.ui import api, experiments, pages, schedules

    app = FastAPI(title="himo dashboard", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Read-only JSON API over himo's metadata store: runs, lineage, releases, "
                              "metrics.")
    app.state.dashboard = Dashboard(store, repo)
    app.mount("/static", CachedStatic(directory=HERE / "static"), name="static")
    app.include_router(api.router, prefix="/api")
    app.include_router(pages.router)
    app.include_router(experiments.router)
    app.include_router(schedules.router)
    _guards(app, token, LOOPBACK_NAMES if hosts is None else hosts)
    _errors(app)
    app.add_middleware(GZipMiddleware, minimum_size=1000)  # added last: outermost, compresses every answer

    @app.get("/api/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        # validatorUrl None: no badge image fetched from swagger.io (the CSP would refuse it anyway)
        page = get_swagger_ui_html(openapi_url="/api/openapi.json", title="himo API",
                                   swagger_js_url="/static/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui.css", swagger_favicon_url=FAVICON,
                                   swagger_ui_parameters={"validatorUrl": None})
        html = bytes(page.body).decode().replace("<body>", BACK_LINK, 1)
        html = html.replace("<script>", f'<script nonce="{nonce_of(request)}">')  # its inline start-up
        return HTMLResponse(html)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:  # asked for by browsers and tools that ignore <link rel="icon">
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    return app


class CachedStatic(StaticFiles):
    """The dashboard's own files, with a Cache-Control header (StaticFiles gives ETag and Last-Modified)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = STATIC_CACHE
        return response


def _guards(app: FastAPI, token: str | None, hosts: Collection[str]) -> None:
    allowed = [split_host(h) for h in hosts]

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        request.state.csp_nonce = secrets.token_urlsafe(16)
        response = await _checked(request, call_next)
        response.headers["Content-Security-Policy"] = CSP.format(nonce=request.state.csp_nonce)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # a ?token= URL never leaves in a Referer
        return response

    async def _checked(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host", "")
        if not host_allowed(host, allowed):
            return error_response(request, 400, f"Host {host!r} is not a name this dashboard answers to",
                                  "open it by the address it serves (http://127.0.0.1:PORT/ on this "
                                  "machine), or start `himo ui` with --allowed-host NAME")
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        if _escapes(raw) or _escapes(request.url.path):
            return error_response(request, 400, f"path {request.url.path!r} refused: '..' segment",
                                  "name runs by id and artifacts by digest")
        if (nul := _nul_in(request)) is not None:
            return error_response(request, 400, f"{nul}: contains a NUL character (%00)",
                                  "remove it from the URL")
        if token is None:
            return await call_next(request)
        given = _token_of(request)
        if given is None or not secrets.compare_digest(given.encode(), token.encode()):
            response = error_response(request, 401, "a token is required",
                                      "pass it as 'Authorization: Bearer TOKEN' or open /?token=TOKEN once")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        response = await call_next(request)
        if request.query_params.get("token"):  # the browser keeps it: later links need no token
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response


def split_host(value: str) -> tuple[str, int | None]:
    """A Host header (or an allowed-host entry) as (name, port): `[::1]:8765` -> ('[::1]', 8765);
    a port that is not a number -> -1, which no entry allows."""
    value = value.strip().lower()
    name, sep, port = value.rpartition(":") if not value.endswith("]") else ("", "", "")
    if not sep or (name.startswith("[") and not name.endswith("]")) or (":" in name and "[" not in name):
        return value, None  # no port (or a bare IPv6 address)
    return name, int(port) if port.isdigit() else -1


def host_allowed(header: str, allowed: list[tuple[str, int | None]]) -> bool:
    """`header` names an allowed host: the same name, and the same port unless the entry has none."""
    name, port = split_host(header)
    return any(a_name == "*" or (a_name == name and a_port in (None, port)) for a_name, a_port in allowed)


def _escapes(path: str) -> bool:
    """A '..' segment, even percent-encoded (twice) or with backslashes."""
    decoded = unquote(unquote(path)).replace("\\", "/")
    return ".." in decoded.split("/")


def _nul_in(request: Request) -> str | None:
    """What in the request holds a NUL: the path or a query parameter's name. No store keeps one in
    a name (PostgreSQL's text cannot hold it: its driver's error was a 500), so it is refused first."""
    if "\x00" in request.url.path:
        return "path"
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            return f"query parameter {name.replace(chr(0), '%00')!r}"
    return None


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE) or request.query_params.get("token")


def _errors(app: FastAPI) -> None:
    @app.exception_handler(HimoError)
    async def himo_error(request: Request, exc: HimoError) -> Response:
        status = getattr(exc, "http_status", None) or (
            503 if isinstance(exc, MetaUnreachableError) else 400 if isinstance(exc, UsageError) else 500)
        return error_response(request, status, exc.message, exc.hint)

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error_response(request, 400, f"{where}: {first.get('msg', 'invalid')}", "see /api/docs")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        return error_response(request, 500, f"internal error: {type(exc).__name__}: {exc}",
                              "this is a bug in himo; the server's log has the traceback")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail), "")


def error_response(request: Request, status: int, message: str, hint: str) -> Response:
    """The one error body: JSON under /api, a small escaped page elsewhere."""
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message, "hint": hint}, status_code=status)
    dashboard: Dashboard | None = getattr(request.app.state, "dashboard", None)
    if dashboard is None or status == 401:
        from html import escape

        return HTMLResponse(f"<h1>{status}</h1><p>{escape(message)}</p><p>{escape(hint)}</p>", status)
    page = dashboard.render("error.html", request, status=status, message=message, hint=hint)
    page.status_code = status
    return page
