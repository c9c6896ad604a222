"""The orchestrator over HTTP, on loopback: reads for everyone, mutations behind the admin bearer token.

Mutations are synchronous: the response comes when the operation is over (an upgrade takes as long as
green clusters take to start plus a drain), so clients should allow minutes, not seconds.
"""

from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING, Annotated, Any, Literal

import uvicorn
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from engines.orchestrator.errors import OperationFailed, OrchestratorError
from engines.orchestrator.fleet import MAX_CLUSTERS, MAX_NODES_PER_CLUSTER
from engines.orchestrator.orchestrator import SIGNALS
from foundation.process import LOOPBACK, bind_socket, wait_until

if TYPE_CHECKING:
    from engines.orchestrator.orchestrator import Orchestrator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScaleBody(_Body):
    clusters: Annotated[int, Field(ge=1, le=MAX_CLUSTERS)] | None = None
    nodes_per_cluster: Annotated[int, Field(ge=1, le=MAX_NODES_PER_CLUSTER)] | None = None
    ready_timeout_s: Annotated[float, Field(gt=0)] | None = None


class UpgradeBody(_Body):
    version: str
    ready_timeout_s: Annotated[float, Field(gt=0)] | None = None
    #: Proceed although the error-budget gate denies (or cannot be asked); recorded in the events.
    override_budget_gate: bool = False


class FailoverBody(_Body):
    clusters: list[str] = Field(min_length=1)


class PodOpBody(_Body):
    ready_timeout_s: Annotated[float, Field(gt=0)] | None = None


class SignalBody(_Body):
    signal: Literal["KILL", "TERM", "STOP", "CONT"]


assert set(SignalBody.model_fields["signal"].annotation.__args__) == set(SIGNALS)  # type: ignore[union-attr]


def create_app(orch: Orchestrator) -> FastAPI:
    app = FastAPI(title="enginewatch orchestrator", docs_url=None, redoc_url=None, openapi_url=None)

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), orch.admin_token):
            raise _Unauthorized

    Admin = Depends(admin)

    @app.exception_handler(_Unauthorized)
    def _unauthorized(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"error": "mutations need 'Authorization: Bearer <admin token>'"}, 401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(OrchestratorError)
    def _orchestrator_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OrchestratorError)
        body: dict[str, Any] = {"error": str(exc), **getattr(exc, "extra", {})}
        if isinstance(exc, OperationFailed) and exc.result is not None:
            body["result"] = exc.result.to_dict()
        return JSONResponse(body, exc.status)

    @app.exception_handler(RequestValidationError)
    def _bad_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = ["{}: {}".format(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
        return JSONResponse({"error": "invalid request: " + "; ".join(problems)}, 422)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(orch.exporter.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/engines")
    def engines() -> list[dict[str, Any]]:
        return [e.to_dict() for e in orch.snapshot()]

    @app.get("/v1/engines/{engine}")
    def engine(engine: str) -> dict[str, Any]:
        return orch.engine(engine).to_dict()

    @app.get("/v1/pods")
    def pods(engine: str | None = None) -> list[dict[str, Any]]:
        if engine is not None:
            return [p.to_dict() for p in orch.engine(engine).pods]
        return [p.to_dict() for p in orch.pods()]

    @app.get("/v1/pods/{pod}")
    def pod(pod: str) -> dict[str, Any]:
        return orch.pod(pod).to_dict()

    @app.get("/v1/events")
    def events(since: Annotated[int, Query(ge=0)] = 0, kind: str | None = None) -> dict[str, Any]:
        selected = orch.events(since, kind)
        last = selected[-1].seq if selected else max(since, 0)
        return {"events": [e.to_dict() for e in selected], "last_seq": last}

    @app.post("/v1/engines/{engine}/scale", dependencies=[Admin])
    def scale(engine: str, body: ScaleBody) -> dict[str, Any]:
        return orch.resize(engine, clusters=body.clusters, nodes_per_cluster=body.nodes_per_cluster,
                           ready_timeout_s=body.ready_timeout_s).to_dict()

    @app.post("/v1/engines/{engine}/upgrade", dependencies=[Admin])
    def upgrade(engine: str, body: UpgradeBody) -> dict[str, Any]:
        return orch.upgrade(engine, body.version, ready_timeout_s=body.ready_timeout_s,
                            override_budget_gate=body.override_budget_gate).to_dict()

    @app.post("/v1/engines/{engine}/failover", dependencies=[Admin])
    def failover(engine: str, body: FailoverBody) -> dict[str, Any]:
        return orch.failover(engine, body.clusters).to_dict()

    @app.post("/v1/pods/{pod}/drain", dependencies=[Admin])
    def drain(pod: str, body: PodOpBody | None = None) -> dict[str, Any]:
        return orch.drain_node(pod, ready_timeout_s=body.ready_timeout_s if body else None).to_dict()

    @app.post("/v1/pods/{pod}/restart", dependencies=[Admin])
    def restart(pod: str, body: PodOpBody | None = None) -> dict[str, Any]:
        return orch.restart_pod(pod, ready_timeout_s=body.ready_timeout_s if body else None).to_dict()

    @app.post("/v1/pods/{pod}/signal", dependencies=[Admin])
    def signal_pod(pod: str, body: SignalBody) -> dict[str, Any]:
        pid = orch.signal_pod(pod, body.signal)
        return {"pod": pod, "pid": pid, "signal": body.signal}

    return app


class _Unauthorized(Exception):
    pass


class ApiServer:
    """uvicorn in a thread, on a port the kernel picked (bound before uvicorn starts: no race)."""

    def __init__(self, orch: Orchestrator) -> None:
        self._sock = bind_socket(0)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://{LOOPBACK}:{self.port}"
        config = uvicorn.Config(create_app(orch), log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="orchestrator-api", daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: self._server.started, 10.0, what="orchestrator API to start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
