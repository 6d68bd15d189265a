"""The FastAPI application: login, dashboards, worklists and the JSON API.

`create_app(home)` reads the person table once, computes every aggregate the
pages show (phm.web.aggregates) and serves them; worklists read the store per
request. Who may see what is decided here, from phm.web.auth's roles:

- aggregates are disclosure-controlled for everyone without a care
  relationship to every practice in the area: commissioners always; clinicians
  and care coordinators outside their own practices; analysts by default too,
  but an analyst may ask for exact counts with `disclosure=off` (audited);
- identifiable rows (worklists) only for analysts and for care roles within
  their own practices; every view or download is audited, and every refusal.
"""

import datetime as dt
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from phm.cohorts import CohortError, Cohorts, load_cohorts, worklist, write_worklist
from phm.cohorts.worklist import header
from phm.config.place import load_place
from phm.config.settings import Engine, Settings
from phm.engine import StoreError, connect
from phm.segments import load_segments
from phm.web import views
from phm.web.accounts import User, database_url, open_database
from phm.web.aggregates import LEVEL_LABELS, LEVELS, Aggregates, Area, GeographyError, compute
from phm.web.audit import recent, record
from phm.web.auth import (
    CARE_ROLES,
    Viewer,
    authenticate,
    ensure_admin,
    session_secret,
    viewer_of,
)

HERE = Path(__file__).parent
SESSION_COOKIE = "phm_session"
SESSION_HOURS = 8


class NotLoggedIn(Exception):
    """No valid session."""


class Refused(Exception):
    """The viewer may not have what they asked for."""

    def __init__(self, viewer: Viewer | None, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.viewer = viewer
        self.reason = reason
        self.status = status


class DataMissing(Exception):
    """The data folder has no person table yet."""


class WebState:
    """What the app keeps between requests."""

    def __init__(self, home: Path, engine: Engine) -> None:
        self.home = home
        self.engine: Engine = engine
        self.sessions: sessionmaker[Session] = open_database(database_url(home))
        self.store_lock = threading.Lock()
        self.aggregates: Aggregates | None = None
        self.cohorts: Cohorts | None = None
        self.risk_columns = False
        self.load_error = ""

    def load(self) -> None:
        """Read the person table once and compute every aggregate."""
        try:
            place_name = load_place(Settings().place).name
        except Exception:
            place_name = "Place"
        store = connect(self.home, self.engine)
        try:
            if not store.has("person_table"):
                self.load_error = "no person table yet: run `phm demo` or `phm run`"
                return
            person_table = store.table("person_table")
            columns = person_table.columns
            segmentation = load_segments(columns=columns) if "bridges_segment" in columns else None
            self.cohorts = load_cohorts(columns=columns)
            members = store.table("cohort_members") if store.has("cohort_members") else None
            self.aggregates = compute(
                person_table,
                members,
                place_name=place_name,
                segmentation=segmentation,
                cohorts=self.cohorts,
            )
            self.risk_columns = self.aggregates.has_risk
        finally:
            store.close()


def create_app(home: Path, engine: Engine = "duckdb") -> FastAPI:
    """The web application over the data folder `home`."""
    state = WebState(home, engine)
    with state.sessions() as session:
        password = ensure_admin(session)
    if password is not None:
        print(
            f"Created the local administrator: user 'admin', password {password} "
            "(shown once; change it by creating a new analyst)"
        )
    state.load()

    app = FastAPI(
        title="phm",
        summary="Population health management: dashboards, cohorts and worklists",
        version="0.1",
    )
    app.state.web = state
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(home),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    def db() -> Any:
        with state.sessions() as session:
            yield session

    Db = Annotated[Session, Depends(db)]

    def current(request: Request, session: Db) -> Viewer:
        username = request.session.get("user")
        if not username:
            raise NotLoggedIn
        user = session.query(User).filter(User.username == username).one_or_none()
        if user is None:
            request.session.clear()
            raise NotLoggedIn
        return viewer_of(user)

    ViewerDep = Annotated[Viewer, Depends(current)]

    def data() -> Aggregates:
        if state.aggregates is None:
            raise DataMissing(state.load_error or "no data")
        return state.aggregates

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api")

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        with state.sessions() as session:
            record(
                session,
                viewer=None,
                action="refused",
                path=request.url.path,
                status=401,
                detail="not logged in",
            )
        if is_api(request):
            return JSONResponse({"detail": "log in first"}, status_code=401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        with state.sessions() as session:
            record(
                session,
                viewer=exc.viewer,
                action="refused",
                path=request.url.path,
                status=exc.status,
                detail=f"{exc.reason} [{request.url.query}]",
            )
        return problem(request, exc.reason, exc.status, exc.viewer)

    @app.exception_handler(GeographyError)
    async def unknown_area(request: Request, exc: GeographyError) -> Response:
        return problem(request, str(exc), 404, title="Not found")

    @app.exception_handler(DataMissing)
    async def data_missing(request: Request, exc: DataMissing) -> Response:
        return problem(request, str(exc), 503, title="No data")

    def problem(
        request: Request, reason: str, status: int, viewer: Viewer | None = None, title: str = ""
    ) -> Response:
        """A refusal or error: JSON for the API, the refusal page for a person."""
        if is_api(request):
            return JSONResponse({"detail": reason}, status_code=status)
        context: dict[str, object] = {"viewer": viewer, "reason": reason}
        if title:
            context["title"] = title
        return templates.TemplateResponse(request, "refused.html", context, status_code=status)

    def controlled(viewer: Viewer, area: Area, disclosure: str, path: str) -> bool:
        """Whether this viewer sees this area's aggregates disclosure-controlled."""
        if viewer.role in CARE_ROLES:
            return not area.practices <= viewer.practices
        if viewer.role == "analyst" and disclosure == "off":
            with state.sessions() as session:
                record(
                    session,
                    viewer=viewer,
                    action="view_unsuppressed",
                    path=path,
                    status=200,
                    detail=f"{area.level} {area.code}",
                )
            return False
        return True

    def page(request: Request, name: str, viewer: Viewer, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            name,
            {
                "viewer": viewer,
                "has_risk": state.risk_columns,
                "levels": LEVELS,
                "level_labels": LEVEL_LABELS,
                **context,
            },
        )

    Level = Annotated[str, Query(description="place, lcn, neighbourhood, pcn or practice")]
    Code = Annotated[str | None, Query(description="the area's code or name")]
    Disclosure = Annotated[str, Query(description="'off' gives an analyst exact counts (audited)")]

    def view_of(
        kind: str, viewer: Viewer, level: str, code: str | None, disclosure: str, path: str
    ) -> views.View:
        agg = data()
        area = agg.area(level, code)
        control = controlled(viewer, area, disclosure, path)
        builders = {
            "overview": views.overview,
            "segments": views.segments,
            "cohorts": views.cohorts,
            "risk": views.risk,
        }
        return builders[kind](agg, area, control)

    def as_json(view: views.View) -> dict[str, Any]:
        return {
            "area": {"level": view.area.level, "code": view.area.code, "name": view.area.name},
            "disclosure_controlled": view.controlled,
            "headline": view.headline,
            "figures": [asdict(f) for f in view.figures],
        }

    # ---- login ---------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return templates.TemplateResponse(request, "login.html", {"next": next, "error": ""})

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        session: Db,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        user = authenticate(session, username, password)
        if user is None:
            record(session, viewer=None, action="refused_login", path="/login", status=401)
            return templates.TemplateResponse(
                request,
                "login.html",
                {"next": next, "error": "Wrong user name or password."},
                status_code=401,
            )
        request.session.clear()
        request.session["user"] = user.username
        request.session["since"] = dt.datetime.now(dt.UTC).isoformat()
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        return RedirectResponse(target, status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", include_in_schema=False)
    def home_page(viewer: ViewerDep) -> Response:
        return RedirectResponse("/overview", status_code=303)

    # ---- pages ---------------------------------------------------------------------------

    def dashboard(kind: str, title: str):  # type: ignore[no-untyped-def]
        def handler(
            request: Request,
            viewer: ViewerDep,
            level: Level = "place",
            code: Code = None,
            disclosure: Disclosure = "on",
        ) -> HTMLResponse:
            if kind == "risk" and not state.risk_columns:
                return page(request, "no_risk.html", viewer, title=title)
            view = view_of(kind, viewer, level, code, disclosure, request.url.path)
            return page(
                request,
                "dashboard.html",
                viewer,
                title=title,
                kind=kind,
                view=view,
                choices=data().choices(),
                model_card=model_card() if kind == "risk" else "",
            )

        handler.__name__ = f"{kind}_page"
        return handler

    for kind, title in (
        ("overview", "Population overview"),
        ("segments", "Segments"),
        ("cohorts", "Case-finding cohorts"),
        ("risk", "Risk"),
    ):
        app.get(f"/{kind}", response_class=HTMLResponse, include_in_schema=False)(
            dashboard(kind, title)
        )

    def model_card() -> str:
        path = home / "models" / "latest" / "model_card.md"
        if not path.exists():
            return ""
        return MarkdownIt("commonmark", {"html": False}).render(path.read_text(encoding="utf-8"))

    # ---- worklists -----------------------------------------------------------------------

    def worklist_rows(
        viewer: Viewer, path: str, practice: str | None, pcn: str | None, cohort: str
    ) -> tuple[Area, list[str], list[list[Any]], Any]:
        """The worklist table after the access check; refusals raise Refused."""
        agg = data()
        if not viewer.identifiable:
            raise Refused(viewer, "your role sees aggregates only, not identifiable rows")
        if (practice is None) == (pcn is None):
            raise Refused(viewer, "ask for one practice or one PCN", status=400)
        try:
            area = agg.area("practice", practice) if practice else agg.area("pcn", pcn)
        except GeographyError as e:
            raise Refused(viewer, str(e), status=404) from e
        if not viewer.may_see_practices(area.practices):
            raise Refused(viewer, f"you may not see the worklist of {area.name}")
        with state.store_lock:
            store = connect(home, state.engine)
            try:
                assert state.cohorts is not None
                table = worklist(
                    store.table("person_table"),
                    state.cohorts,
                    cohort=cohort,
                    practice=practice,
                    pcn=pcn,
                ).to_pyarrow()
            except CohortError as e:
                raise Refused(viewer, str(e), status=400) from e
            except StoreError as e:
                raise DataMissing(str(e)) from e
            finally:
                store.close()
        columns = table.column_names
        rows = [list(r) for r in zip(*(table[c].to_pylist() for c in columns), strict=True)]
        return area, columns, rows, table

    Practice = Annotated[str | None, Query(description="practice code")]
    Pcn = Annotated[str | None, Query(description="PCN code")]
    CohortName = Annotated[str, Query(description="cohort name")]

    @app.get("/worklist", response_class=HTMLResponse, include_in_schema=False)
    def worklist_page(
        request: Request,
        viewer: ViewerDep,
        session: Db,
        practice: Practice = None,
        pcn: Pcn = None,
        cohort: CohortName = "ltc_3plus",
    ) -> HTMLResponse:
        agg = data()
        if not viewer.identifiable:
            raise Refused(viewer, "your role sees aggregates only, not identifiable rows")
        allowed = [c for c in agg.practices.practice_code if viewer.may_see_practice(str(c))]
        if practice is None and pcn is None:
            practice = allowed[0] if allowed else None
        area, columns, rows, _ = worklist_rows(viewer, request.url.path, practice, pcn, cohort)
        record(
            session,
            viewer=viewer,
            action="view_worklist",
            path=request.url.path,
            status=200,
            rows=len(rows),
            detail=f"{area.level} {area.code} cohort {cohort}",
        )
        names = agg.practices.set_index("practice_code").practice_name.to_dict()
        return page(
            request,
            "worklist.html",
            viewer,
            title="Worklist",
            area=area,
            cohort=cohort,
            columns=columns,
            headers=[header(c) for c in columns],
            rows=rows,
            practices=[(c, names.get(c, c)) for c in allowed],
            cohorts=list(agg.cohort_labels.items()),
            practice=practice,
            pcn=pcn,
        )

    @app.get("/worklist/download", include_in_schema=False)
    def worklist_download(
        request: Request,
        viewer: ViewerDep,
        session: Db,
        cohort: CohortName,
        practice: Practice = None,
        pcn: Pcn = None,
        format: str = "csv",
    ) -> Response:
        if format not in ("csv", "xlsx"):
            raise Refused(viewer, "format is csv or xlsx", status=400)
        area, _, _rows, table = worklist_rows(viewer, request.url.path, practice, pcn, cohort)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"worklist.{format}"
            written = write_worklist(table, path)
            body = path.read_bytes()
        record(
            session,
            viewer=viewer,
            action="download_worklist",
            path=request.url.path,
            status=200,
            rows=written,
            detail=f"{area.level} {area.code} cohort {cohort} {format}",
        )
        media = (
            "text/csv"
            if format == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        filename = f"worklist-{area.code}-{cohort}.{format}"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, viewer: ViewerDep, session: Db) -> HTMLResponse:
        if viewer.role != "analyst":
            raise Refused(viewer, "only analysts may read the audit log")
        return page(request, "audit.html", viewer, title="Audit log", events=recent(session))

    # ---- API -----------------------------------------------------------------------------

    @app.get("/api/areas", tags=["geography"])
    def api_areas(viewer: ViewerDep) -> list[dict[str, str]]:
        """Every area of the place: level, code and name."""
        return [{"level": a.level, "code": a.code, "name": a.name} for a in data().choices()]

    def api_view(kind: str, summary: str):  # type: ignore[no-untyped-def]
        def handler(
            request: Request,
            viewer: ViewerDep,
            level: Level = "place",
            code: Code = None,
            disclosure: Disclosure = "on",
        ) -> dict[str, Any]:
            if kind == "risk" and not state.risk_columns:
                raise DataMissing("no model trained yet: run `phm risk train`")
            return as_json(view_of(kind, viewer, level, code, disclosure, request.url.path))

        handler.__name__ = f"api_{kind}"
        handler.__doc__ = summary
        return handler

    for kind, summary in (
        ("overview", "Population, age-sex pyramid, deprivation, LTCs by age, prevalence."),
        ("segments", "Bridges to Health segments: size, share, cost; priority groupings."),
        ("cohorts", "Case-finding cohort sizes and marker co-occurrence."),
        ("risk", "Risk score distribution, tiers and the top 0.5% / 5%."),
    ):
        app.get(f"/api/{kind}", tags=["aggregates"])(api_view(kind, summary))

    @app.get("/api/worklist", tags=["worklists"])
    def api_worklist(
        request: Request,
        viewer: ViewerDep,
        session: Db,
        cohort: CohortName,
        practice: Practice = None,
        pcn: Pcn = None,
    ) -> dict[str, Any]:
        """A cohort's members in one practice or PCN, ordered by need (audited)."""
        area, columns, rows, _ = worklist_rows(viewer, request.url.path, practice, pcn, cohort)
        record(
            session,
            viewer=viewer,
            action="view_worklist",
            path=request.url.path,
            status=200,
            rows=len(rows),
            detail=f"{area.level} {area.code} cohort {cohort}",
        )
        return {
            "area": {"level": area.level, "code": area.code, "name": area.name},
            "cohort": cohort,
            "columns": columns,
            "rows": [[_jsonable(v) for v in row] for row in rows],
        }

    return app


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
