"""Runtime maintenance windows: ``POST/GET /api/v1/maintenance``, ``DELETE /api/v1/maintenance/{id}``.

A window names an SLO (or every served SLO), optionally one engine, a start (default now), an end or
a duration, and a reason. Opening one does two things:

- it creates the matching Alertmanager silence through its v2 API (matchers: the ``slo`` label, as a
  regex over the covered SLOs when there are several, and ``engine`` when given) — the alerts
  those SLOs' rules raise carry exactly these labels;
- it exports ``slo_maintenance_window_active{slo, engine}`` = 1 on /metrics while it is open, one
  series per covered SLO; Prometheus scrapes it and the generated base rules drop the events it
  covers (slo/maintenance.py), so the window counts in no SLI, no burn-rate window, no budget.

``DELETE`` ends a window now: the silence is expired, the series disappears. Windows live in this
process: a restart forgets them (their silences stay until they end). Declared windows (the specs'
``maintenance:``) are listed too, read-only: the rule files already hold them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from exporters.contract import SLO_MAINTENANCE_ACTIVE
from foundation.alertmanager import AlertmanagerClient, AlertmanagerUnavailable, SilenceMatcher
from foundation.durations import parse_seconds
from slo.maintenance import ENGINE_LABEL, SLO_LABEL, iso
from slo.model import SLO

API = "/api/v1/maintenance"
CREATED_BY = "enginewatch-slo-service"
#: A window may start this far in the past (clock skew, a slow client); recorded samples are never rewritten.
PAST_SKEW_S = 60
KEEP_ENDED = 100
SYNC_ATTEMPTS, SYNC_BACKOFF_S = 30, 2.0
log = logging.getLogger(__name__)
State = Literal["scheduled", "active", "ended"]


class MaintenanceError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Window:
    id: str
    slos: tuple[str, ...]  # the SLOs it covers
    slo: str | None  # as requested (None: every served SLO)
    engine: str | None
    start: float
    end: float
    reason: str
    source: Literal["api", "spec"] = "api"
    silence_id: str | None = None
    ended_at: float | None = None  # ended early (DELETE), scheduled or active

    def state(self, now: float) -> State:
        if self.ended_at is not None or now >= self.end:
            return "ended"
        return "scheduled" if now < self.start else "active"

    @property
    def effective_end(self) -> float:
        return self.end if self.ended_at is None else min(self.end, max(self.ended_at, self.start))


# --- API models --------------------------------------------------------------------------------------

class MaintenanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"slo": "gateway-availability", "engine": "analytics", "duration": "30m", "reason": "storage migration"}]})

    slo: Annotated[str | None, Field(description="A served SLO; default every one.", min_length=1)] = None
    engine: Annotated[str | None, Field(description="Only this engine's series (SLOs split by engine).",
                                        min_length=1)] = None
    start: Annotated[AwareDatetime | None, Field(description="RFC 3339 with a timezone; default now.")] = None
    end: AwareDatetime | None = None
    duration: Annotated[str | None, Field(description="Instead of end: 30m, 2h.", examples=["30m"])] = None
    reason: Annotated[str, Field(min_length=1, description="Why: shown in the silence's comment.")]


class WindowBody(BaseModel):
    id: str
    source: Literal["api", "spec"]
    state: State
    slo: str | None = Field(description="As requested; null: every served SLO.")
    slos: list[str] = Field(description="The SLOs whose events it excludes.")
    engine: str | None
    start: str
    end: str
    reason: str
    silence_id: str | None = Field(description="The Alertmanager silence; null without an Alertmanager.")

    @classmethod
    def of(cls, w: Window, now: float) -> WindowBody:
        return cls(id=w.id, source=w.source, state=w.state(now), slo=w.slo, slos=list(w.slos), engine=w.engine,
                   start=iso(w.start), end=iso(w.effective_end), reason=w.reason, silence_id=w.silence_id)


class WindowList(BaseModel):
    windows: list[WindowBody]
    alertmanager: str | None = Field(description="Where silences are created; null: none configured.")


# --- the store ---------------------------------------------------------------------------------------

def silence_matchers(w: Window) -> list[SilenceMatcher]:
    if len(w.slos) == 1:
        out = [SilenceMatcher(SLO_LABEL, w.slos[0])]
    else:
        out = [SilenceMatcher(SLO_LABEL, "|".join(re.escape(s) for s in w.slos), is_regex=True)]
    if w.engine:
        out.append(SilenceMatcher(ENGINE_LABEL, w.engine))
    return out


def declared(slos: Sequence[SLO]) -> list[Window]:
    """The specs' windows, one per distinct window (a shared one covers every SLO it applies to)."""
    by_key: dict[tuple[int, int, str, str | None], list[str]] = {}
    for slo in slos:
        for w in slo.maintenance:
            by_key.setdefault((w.start, w.end, w.reason, w.engine), []).append(slo.id)
    # The ID comes from the content: the same declared window is the same silence after a restart.
    return [Window("spec-" + hashlib.sha256(repr((start, end, reason, engine, ids)).encode()).hexdigest()[:12],
                   tuple(ids), ids[0] if len(ids) == 1 else None, engine, start, end, reason, source="spec")
            for (start, end, reason, engine), ids in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1]))]


def _comment(w: Window) -> str:
    return f"maintenance window {w.id}: {w.reason}"


class MaintenanceStore:
    def __init__(self, slos: Sequence[SLO], alertmanager: str | None = None) -> None:
        self.slos = {s.id: s for s in slos}
        self.alertmanager_url = alertmanager
        self._client = AlertmanagerClient(alertmanager) if alertmanager else None
        self._declared = declared(slos)
        self._windows: dict[str, Window] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _covered(self, slo: str | None, engine: str | None) -> tuple[str, ...]:
        if slo is not None and slo not in self.slos:
            raise MaintenanceError(400, f"unknown SLO {slo!r}; known: {', '.join(sorted(self.slos))}")
        candidates = [self.slos[slo]] if slo else list(self.slos.values())
        if engine is None:
            return tuple(s.id for s in candidates)
        split = tuple(s.id for s in candidates if ENGINE_LABEL in s.sli.group_by)
        if not split:
            raise MaintenanceError(400, f"engine {engine!r}: {'SLO ' + repr(slo) if slo else 'no served SLO'} "
                                        f"is not split by {ENGINE_LABEL}; leave engine out")
        return split

    def open(self, req: MaintenanceRequest, now: float | None = None) -> Window:
        now = time.time() if now is None else now
        start = req.start.timestamp() if req.start else now
        if (req.end is None) == (req.duration is None):
            raise MaintenanceError(400, "give exactly one of end and duration")
        if req.duration is not None:
            try:
                end = start + parse_seconds(req.duration)
            except ValueError as e:
                raise MaintenanceError(400, f"duration: {e}") from None
        else:
            assert req.end is not None
            end = req.end.timestamp()
        if end <= start:
            raise MaintenanceError(400, f"end {iso(end)} is not after start {iso(start)}")
        if start < now - PAST_SKEW_S:
            raise MaintenanceError(400, f"start {iso(start)} is in the past: recorded SLI series are not "
                                        "rewritten; start now or later")
        window = Window(secrets.token_hex(6), self._covered(req.slo, req.engine), req.slo, req.engine,
                        max(start, now), end, req.reason)
        if self._client is not None:
            try:
                silence = self._client.create_silence(
                    silence_matchers(window), window.start, window.end, CREATED_BY, _comment(window))
            except AlertmanagerUnavailable as e:
                raise MaintenanceError(503, f"the silence was not created, so neither was the window: {e}") from None
            window = replace(window, silence_id=silence)
        with self._lock:
            self._windows[window.id] = window
            self._forget_ended(now)
        return window

    def end(self, window_id: str, now: float | None = None) -> Window:
        now = time.time() if now is None else now
        with self._lock:
            window = self._windows.get(window_id)
        if window is None:
            if any(w.id == window_id for w in self._declared):
                raise MaintenanceError(409, f"window {window_id} is declared in a spec; remove it there and "
                                            "regenerate the rules")
            raise MaintenanceError(404, f"no maintenance window {window_id!r}; GET {API} lists them")
        if window.state(now) == "ended":
            raise MaintenanceError(409, f"window {window_id} already ended at {iso(window.effective_end)}")
        if self._client is not None and window.silence_id:
            self._expire(window.silence_id)
        ended = replace(window, ended_at=now)
        with self._lock:
            self._windows[window_id] = ended
        return ended

    def _expire(self, silence_id: str) -> None:
        assert self._client is not None
        try:
            self._client.expire_silence(silence_id)
        except AlertmanagerUnavailable as e:
            # Someone expired it in Alertmanager already (it refuses to expire it twice): nothing left to do.
            with contextlib.suppress(AlertmanagerUnavailable):
                if e.status is not None and (s := self._client.silence(silence_id)) is not None \
                        and s.state == "expired":
                    return
            raise MaintenanceError(503, f"the silence {silence_id} was not expired, so the window stays "
                                        f"open: {e}") from None

    def windows(self) -> list[Window]:
        with self._lock:
            return [*self._declared, *self._windows.values()]

    def sync_declared(self, now: float | None = None) -> int:
        """Silence every declared window not over yet, once: an existing silence of ours with the window's
        comment is adopted. Returns how many declared windows have their silence."""
        if self._client is None:
            return 0
        now = time.time() if now is None else now
        ours = {s.comment: s.id for s in self._client.silences()
                if s.created_by == CREATED_BY and s.state != "expired"}
        done = []
        for w in self._declared:
            if w.end <= now:
                continue
            silence = ours.get(_comment(w)) or self._client.create_silence(
                silence_matchers(w), max(w.start, now), w.end, CREATED_BY, _comment(w))
            done.append(replace(w, silence_id=silence))
        with self._lock:
            by_id = {w.id: w for w in done}
            self._declared = [by_id.get(w.id, w) for w in self._declared]
        return len(done)

    def sync_in_background(self) -> threading.Thread | None:
        """Retry the declared windows' silences until Alertmanager answers (it may start after us)."""
        if self._client is None or not any(w.end > time.time() for w in self._declared):
            return None

        def run() -> None:
            for attempt in range(SYNC_ATTEMPTS):
                try:
                    self.sync_declared()
                    return
                except AlertmanagerUnavailable as e:
                    if attempt == SYNC_ATTEMPTS - 1:
                        log.warning("declared maintenance windows have no silence: %s", e)
                    time.sleep(SYNC_BACKOFF_S)

        thread = threading.Thread(target=run, name="maintenance-silences", daemon=True)
        thread.start()
        return thread

    def active(self, now: float | None = None) -> Iterator[Window]:
        now = time.time() if now is None else now
        with self._lock:
            runtime = list(self._windows.values())
        return (w for w in runtime if w.state(now) == "active")

    def _forget_ended(self, now: float) -> None:
        ended = sorted((w for w in self._windows.values() if w.state(now) == "ended"), key=lambda w: w.effective_end)
        for w in ended[:max(0, len(ended) - KEEP_ENDED)]:
            del self._windows[w.id]


class WindowCollector(Collector):
    """``slo_maintenance_window_active``: one series per open runtime window and covered SLO, at scrape time."""

    def __init__(self, store: MaintenanceStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = SLO_MAINTENANCE_ACTIVE
        family = GaugeMetricFamily(m.name, m.help, labels=list(m.labels))
        seen: set[tuple[str, str]] = set()
        for w in self.store.active():
            for slo in w.slos:
                key = (slo, w.engine or "")
                if key not in seen:
                    seen.add(key)
                    family.add_metric(list(key), 1.0)
        yield family


# --- routes ------------------------------------------------------------------------------------------

def install(app: FastAPI, slos: Sequence[SLO], alertmanager: str | None,
            registry: CollectorRegistry) -> MaintenanceStore:
    """Mount the maintenance API on ``app`` and export the open windows on ``registry``."""
    store = MaintenanceStore(slos, alertmanager)
    store.sync_in_background()
    registry.register(WindowCollector(store))
    router = APIRouter(tags=["maintenance"])
    responses = {s: {"description": d} for s, d in (
        (400, "The window cannot be opened as asked."), (404, "No such window."),
        (409, "A declared window, or one that already ended."), (503, "Alertmanager did not answer."))}

    @app.exception_handler(MaintenanceError)
    async def _refused(_r: Request, exc: MaintenanceError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @router.post(API, status_code=201, response_model=WindowBody, responses=responses)
    def open_window(request: MaintenanceRequest) -> WindowBody:
        """Open a maintenance window: the matching Alertmanager silence is created, and the SLO rules
        exclude the covered events from the next scrape of /metrics on."""
        return WindowBody.of(store.open(request), time.time())

    @router.get(API, response_model=WindowList)
    def list_windows() -> WindowList:
        """Declared (specs) and runtime windows, scheduled, active and recently ended."""
        now = time.time()
        return WindowList(windows=[WindowBody.of(w, now) for w in store.windows()], alertmanager=store.alertmanager_url)

    @router.delete(f"{API}/{{window_id}}", response_model=WindowBody, responses=responses)
    def end_window(window_id: str) -> WindowBody:
        """End a runtime window now: its silence is expired and its events count again."""
        return WindowBody.of(store.end(window_id), time.time())

    app.include_router(router)
    return store
