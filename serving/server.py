"""Running the service: uvicorn in the foreground (``run.py serve``) or in a thread (tests and
the benchmark)."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType

import torch
import uvicorn

from mtrec.config import RunConfig
from mtrec.serving.settings import ServeSettings
from mtrec.serving.slot import ModelSlot
from serving.app import create_app


def serve(config: RunConfig, settings: ServeSettings, stage: str = "production") -> int:
    """Serve ``stage`` of the config's registered model until interrupted; the exit status."""
    from serving.registry import RegistrySource

    slot = ModelSlot(RegistrySource(config, stage), settings.poll_seconds)
    try:
        served = slot.load_initial()
    except LookupError:
        print(
            f"error: model {config.registry.model_name!r} has no {stage!r} version; run "
            "`make pipeline` first",
            file=sys.stderr,
        )
        return 2
    auth = "bearer token required" if settings.token is not None else "no token"
    print(
        f"serving model version {served.version} ({stage}) on "
        f"http://{settings.host}:{settings.port} ({auth}); checking the registry every "
        f"{settings.poll_seconds:g} s",
        flush=True,
    )
    run_server(slot, settings)
    return 0


def run_server(slot: ModelSlot, settings: ServeSettings) -> None:
    """Answer from ``slot`` (loaded) in the foreground; Ctrl+C or SIGTERM stops it."""
    torch.set_num_threads(settings.threads)
    server = uvicorn.Server(_uvicorn_config(slot, settings))
    slot.start()
    try:
        server.run()
    finally:
        slot.stop()


class BackgroundServer:
    """The service in a daemon thread, for tests and benchmarks: ``with BackgroundServer(slot,
    settings) as server: httpx.get(server.url + "/health")``. Port 0 picks a free port."""

    def __init__(self, slot: ModelSlot, settings: ServeSettings) -> None:
        self.slot = slot
        self.settings = settings
        self.server = uvicorn.Server(_uvicorn_config(slot, settings))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        sockets = [s for server in self.server.servers for s in server.sockets]
        host, port = sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BackgroundServer:
        self.slot.start()
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.slot.stop()


def _uvicorn_config(slot: ModelSlot, settings: ServeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(slot, settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
