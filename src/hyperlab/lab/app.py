"""The lab's routes (Starlette): the page, its static files and the JSON it reads.

    GET  /                          the page (index.html, the token written into it)
    GET  /static/...                lab.js, lab.css and the vendored Plotly
    GET  /api/studies               every study with its question and current answer
    GET  /api/studies/NAME?KNOBS    one study: answer, measures, curves, form
    POST /api/studies/NAME/run      train it (JSON body: the knobs); 202 and the job
    GET  /api/jobs/current          the job in flight or last finished (null: none yet)
    GET  /api/jobs/ID/events        the job's progress as server-sent events, until it ends
    POST /api/jobs/ID/cancel        cancel it
    GET  /api/playground            the playground's fields
    POST /api/playground            train a playground setup (JSON body: its fields); 200 and
                                    per seed its history and decision regions (409: busy)
    POST /api/playground/doctor     `hyperlab doctor` on the setup's seed 0: one line per
                                    finding, what to try, the command line (409: busy)

Every request must carry the token (``?token=`` or the ``X-Lab-Token`` header), else 403.
The store is the only state: each request opens it, reads and closes it. Bad knobs are
answered with 400 and ``{"error": <the command line's one-line message>, "knob": <field>}``.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import threading
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (HTMLResponse, JSONResponse, PlainTextResponse, Response,
                                 StreamingResponse)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from hyperlab import studies
from hyperlab.lab import playground, views
from hyperlab.lab.jobs import FINISHED, Runner
from hyperlab.studies.store import Store

STATIC = resources.files("hyperlab.lab") / "static"
EVENT_POLL_S = 0.05      # how often the progress stream looks at the job
# Only the lab's own files; Plotly styles its charts with inline styles.
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'")


class TokenGuard:
    """Refuse (403) every HTTP request that does not carry ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("token", [""])[0] or \
                dict(scope["headers"]).get(b"x-lab-token", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                response = PlainTextResponse("forbidden: this lab needs the token of the URL "
                                             "that 'hyperlab lab' printed", 403)
                await response(scope, receive, send)
                return
            send = _with_headers(send)
        await self.app(scope, receive, send)


def _with_headers(send: Send) -> Send:
    """``send`` adding the security headers to the response."""
    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []),
                                  (b"content-security-policy", CSP.encode()),
                                  (b"x-content-type-options", b"nosniff"),
                                  (b"referrer-policy", b"no-referrer"),
                                  (b"cache-control", b"no-store")]
        await send(message)
    return wrapped


def warm_up() -> None:
    """Start JAX (its backend and a first compiled call, about a second) and its compilation
    cache, so that the first *Run* or playground setup does not wait for them."""
    import jax
    import jax.numpy as jnp

    from hyperlab.engine.training import enable_compilation_cache
    enable_compilation_cache()
    jax.jit(lambda x: x + 1)(jnp.zeros(1)).block_until_ready()


def create_app(db: Path, token: str, files: tuple[Path, ...] = (),
               stopping: Callable[[], bool] = lambda: False) -> ASGIApp:
    """The lab on the store ``db`` (created when something trains), with the built-in
    studies and the study ``files``; every request must carry ``token``. Progress streams
    end once ``stopping()`` is true (the server is shutting down)."""
    catalog = views.Catalog(tuple(files))
    runner = Runner(db)
    playing = threading.Lock()             # one playground setup trains at a time

    @contextmanager
    def store() -> Iterator[Store | None]:
        if not db.exists():
            yield None
            return
        with Store(db) as opened:
            yield opened

    def error(err: Exception, status: int = 400) -> JSONResponse:
        """The one-line message of ``err`` (and the knob it names, if any)."""
        body = {"error": " ".join(str(err).split())}
        if isinstance(err, views.KnobError):
            body["knob"] = err.knob
        return JSONResponse(body, status)

    def find(name: str) -> studies.Study | JSONResponse:
        """The study ``name``, or the answer saying why not (404, or 400 for a study file
        edited into a bad one)."""
        try:
            return catalog.get(name)
        except KeyError:
            return JSONResponse({"error": f"no study {name!r} in this lab; studies: "
                                          f"{', '.join(catalog.names())}"}, 404)
        except studies.StudyError as err:
            return error(err)

    async def index(request: Request) -> Response:
        page = (STATIC / "index.html").read_text().replace("{{token}}", token)
        return HTMLResponse(page)

    def list_studies(request: Request) -> Response:
        try:
            with store() as opened:
                return JSONResponse(views.study_list(catalog, opened))
        except studies.StudyError as err:
            return error(err)

    def show_study(request: Request) -> Response:
        study = find(request.path_params["name"])
        if isinstance(study, Response):
            return study
        knobs = {k: v for k, v in request.query_params.items() if k != "token"}
        try:
            study = views.apply_knobs(study, knobs)
        except views.KnobError as err:
            return error(err)
        with store() as opened:
            return JSONResponse(views.study_view(study, opened, runner.live()))

    async def run_study(request: Request) -> Response:
        study = await asyncio.to_thread(find, request.path_params["name"])
        if isinstance(study, Response):
            return study
        try:
            knobs = await request.json()
        except ValueError:
            knobs = None
        if not isinstance(knobs, dict):
            return JSONResponse({"error": "expected the knobs as a JSON object"}, 400)
        knobs = {str(k): str(v) for k, v in knobs.items()}
        try:
            study = await asyncio.to_thread(views.apply_knobs, study, knobs)
            views.check_size(study)
            job = runner.start(study, knobs)
        except views.KnobError as err:
            return error(err)
        except ValueError as err:               # another study is training
            return error(err, 409)
        return JSONResponse(job.snapshot(), 202)

    def current_job(request: Request) -> Response:
        job = runner.current
        return JSONResponse(None if job is None else job.snapshot())

    def job_or_404(request: Request):
        return runner.get(request.path_params["id"])

    async def job_events(request: Request) -> Response:
        job = job_or_404(request)
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)

        async def stream() -> AsyncIterator[str]:
            seen = -1
            while not stopping():
                snapshot = job.snapshot()
                if snapshot["version"] != seen:
                    seen = snapshot["version"]
                    yield f"data: {json.dumps(snapshot)}\n\n"
                if snapshot["state"] in FINISHED:
                    return
                await asyncio.sleep(EVENT_POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream")

    def cancel_job(request: Request) -> Response:
        job = job_or_404(request)
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)
        job.cancel.set()
        return JSONResponse(job.snapshot())

    def playground_form(request: Request) -> Response:
        return JSONResponse({"form": playground.form(), "max_run_epochs":
                             playground.MAX_RUN_EPOCHS})

    async def playground_job(request: Request, job: Callable[[Any], dict]) -> Response:
        """``job(setup)`` (train or diagnose) on the setup the JSON body's fields ask for,
        one at a time."""
        try:
            knobs = await request.json()
        except ValueError:
            knobs = None
        if not isinstance(knobs, dict):
            return JSONResponse({"error": "expected the fields as a JSON object"}, 400)
        try:
            setup = playground.parse(knobs)
        except views.KnobError as err:
            return error(err)
        if not playing.acquire(blocking=False):
            return JSONResponse({"error": "the playground is training another setup; try "
                                          "again when it is done"}, 409)
        try:
            return JSONResponse(await asyncio.to_thread(job, setup))
        finally:
            playing.release()

    async def play(request: Request) -> Response:
        return await playground_job(request, playground.train)

    async def doctor(request: Request) -> Response:
        return await playground_job(request, playground.diagnose)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=warm_up, daemon=True, name="hyperlab-lab-warm-up").start()
        yield
        await asyncio.to_thread(runner.close)

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/studies", list_studies),
        Route("/api/studies/{name}", show_study),
        Route("/api/studies/{name}/run", run_study, methods=["POST"]),
        Route("/api/jobs/current", current_job),
        Route("/api/jobs/{id}/events", job_events),
        Route("/api/jobs/{id}/cancel", cancel_job, methods=["POST"]),
        Route("/api/playground", playground_form),
        Route("/api/playground", play, methods=["POST"]),
        Route("/api/playground/doctor", doctor, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ], lifespan=lifespan)
    return TokenGuard(app, token)
