"""Latency and throughput of the online service (``make serve``) under concurrent load.

For each catalogue a server process is started the way ``run.py serve`` runs (uvicorn, the
FastAPI app, one torch thread per request) over a model of the default config
(``configs/default.yaml``: PLE, dot head, 20-item history, the interest task, calibrated
re-ranking at 0.4 over 100 candidates) with random weights (latency does not depend on them),
built in code, with the packaged MiniLM encoder for profiles:

- ``movielens``: MovieLens-100k (943 users, 1,682 items, 100,000 interactions as history);
- ``items_100k``: a synthetic log from :mod:`bench.synthetic`, 20,000 users, 100,000
  items, 1,000,000 interactions.

Requests: 90% a known user with 0 to 10 ``recent_items`` (drawn by popularity), 10% an
unknown user without a profile (popularity), ``k`` 10. The load generator runs 16 client
threads on keep-alive connections in this process, on the same two cores as the server:

- ``closed``: each client sends its next request when the last one is answered, for
  ``--seconds``: the most requests/s the server gives, and the latency at that load;
- ``open``: the clients send on a fixed schedule at ``--rate`` requests/s in all, each
  latency measured from the request's scheduled time, so a server falling behind shows in the
  percentiles (no coordinated omission);
- ``profile``: 50 unknown users with a profile text one after another (MiniLM encoding);
- ``in_process``: 300 calls of :func:`mtrec.serving.api.answer` in the server before it
  starts, without HTTP: the scoring's share of a request.

Memory: the server's resident memory once the model is loaded, and its peak while serving
(``VmHWM`` after a reset through ``/proc/self/clear_refs``; where that cannot be written, the
peak since the process started). Results merge into ``bench/results.json`` under ``serve``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCALES = ("movielens", "items_100k")
CLIENTS = 16
PROFILE_REQUESTS = 50
IN_PROCESS_CALLS = 300
N_TOPICS = 20


# ---- the server process -------------------------------------------------------------------


def build_served(scale: str):  # noqa: ANN201 - mtrec imports stay in the server process
    """The served model of ``scale`` and its catalogue's ids and popularity."""
    import pandas as pd

    from mtrec.config import load_config
    from mtrec.evaluation.interests import Topics
    from mtrec.models.serialization import TrainedModel
    from mtrec.registry.recommend import Recommender
    from mtrec.serving.api import ServedModel
    from mtrec.workflows.fit import build_model

    config = load_config(ROOT / "configs/default.yaml")
    if scale == "movielens":
        from mtrec.data.sources import load_raw

        raw = load_raw(config.data)
        log = raw.interactions[["user_id", "item_id", "rating", "timestamp"]].copy()
        item_ids = pd.unique(raw.items["item_id"].astype(str))
    else:
        from bench.synthetic import generate_synthetic

        tables = generate_synthetic(1_000_000, seed=0, n_users=20_000, n_items=100_000)
        log = tables.interactions.to_pandas()
        item_ids = tables.items.column("item_id").to_numpy(zero_copy_only=False).astype(str)
    log = log.astype({"user_id": str, "item_id": str})
    user_ids = pd.unique(log["user_id"])
    log["user_idx"] = pd.Index(user_ids).get_indexer(log["user_id"])
    log["item_idx"] = pd.Index(item_ids).get_indexer(log["item_id"])
    log = log[log["item_idx"] >= 0].reset_index(drop=True)
    rng = np.random.default_rng(0)
    assignment = rng.integers(0, N_TOPICS, size=len(item_ids))
    model = build_model(
        config.model,
        log,
        rng.normal(size=(len(item_ids), 384)).astype(np.float32),
        rng.normal(size=(len(user_ids), 384)).astype(np.float32),
        item_topics=assignment,
    )
    trained = TrainedModel(model.spec, dict(model.state_dict()), tuple(user_ids), tuple(item_ids))
    del model
    topics = Topics(
        assignment,
        np.zeros((N_TOPICS, 384)),
        tuple(f"topic {t}" for t in range(N_TOPICS)),
        np.bincount(assignment, minlength=N_TOPICS),
    )
    history = log[["user_id", "item_id", "timestamp"]]
    recommender = Recommender(trained, history, topics)
    popularity = np.bincount(log["item_idx"], minlength=len(item_ids)).astype(np.float64)
    del trained, log
    from mtrec.features.encoder import TextEncoder

    encoder = TextEncoder.from_config(config.encoder, batch_size=1, pack_tokens=0)  # as served
    lock = threading.Lock()

    def encode(text: str) -> np.ndarray:
        with lock:
            return encoder.encode([text])[0]

    served = ServedModel(
        version=f"bench-{scale}",
        key=scale,
        recommender=recommender,
        rerank=config.rerank,
        encode=encode,
    )
    return served, list(user_ids), list(item_ids), popularity


def request_bodies(
    user_ids: list[str], item_ids: list[str], popularity: np.ndarray, n: int, seed: int
) -> list[bytes]:
    """``n`` request bodies of the mix in the module docstring."""
    rng = np.random.default_rng(seed)
    weights = popularity / popularity.sum()
    bodies = []
    for r in range(n):
        if rng.random() < 0.1:
            body: dict = {"user_id": f"new-{seed}-{r}", "k": 10}
        else:
            picks = rng.choice(len(item_ids), size=int(rng.integers(0, 11)), p=weights)
            body = {
                "user_id": user_ids[int(rng.integers(len(user_ids)))],
                "k": 10,
                "recent_items": [item_ids[i] for i in picks],
            }
        bodies.append(json.dumps(body).encode())
    return bodies


def status_mb(field: str, pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_server_process(scale: str, port: int, threads: int) -> None:
    """Build, measure in process, then serve until killed; reports on stdout as JSON lines."""
    import torch

    from mtrec.serving.api import RecommendRequest, answer
    from mtrec.serving.settings import ServeSettings
    from mtrec.serving.slot import ModelSlot
    from serving.server import run_server

    torch.set_num_threads(threads)
    started = time.perf_counter()
    served, user_ids, item_ids, popularity = build_served(scale)
    built = time.perf_counter() - started
    served.encode("warm the encoder up")  # type: ignore[misc]
    bodies = request_bodies(user_ids, item_ids, popularity, IN_PROCESS_CALLS, seed=99)
    requests = [RecommendRequest.model_validate_json(body) for body in bodies]
    times = []
    for request in requests:
        t = time.perf_counter()
        answer(served, request, max_k=100)
        times.append((time.perf_counter() - t) * 1000)
    report = {
        "build_s": round(built, 1),
        "rss_loaded_mb": round(status_mb("VmRSS"), 1),
        "peak_rss_building_mb": round(status_mb("VmHWM"), 1),
        "in_process": percentiles(times),
        "n_items": len(item_ids),
        "n_users": len(user_ids),
        "history_rows": int(popularity.sum()),
    }
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here: serving only
        report["peak_reset"] = True
    except OSError:
        report["peak_reset"] = False
    print(json.dumps({"ready": report}), flush=True)

    class Fixed:
        def current_key(self) -> str:
            return served.key

        def load(self, key: str):  # noqa: ANN202
            return served

    slot = ModelSlot(Fixed(), poll_seconds=5.0)
    slot.load_initial()
    run_server(slot, ServeSettings(port=port, threads=threads))


# ---- the load generator -------------------------------------------------------------------


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    values = np.asarray(milliseconds)
    if not len(values):
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "max_ms": round(float(values.max()), 2),
    }


def load(port: int, bodies: list[bytes], seconds: float, rate: float | None) -> dict:
    """16 clients for ``seconds``: closed loop (``rate`` None) or on a fixed schedule."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS
    start = time.perf_counter() + 0.2
    end = start + seconds

    def client(c: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        i = 0
        while True:
            if rate is None:
                scheduled = time.perf_counter()
                if scheduled >= end:
                    break
                if scheduled < start:
                    time.sleep(start - scheduled)
                    scheduled = time.perf_counter()
            else:
                scheduled = start + (i * CLIENTS + c) / rate
                if scheduled >= end:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            body = bodies[(i * CLIENTS + c) % len(bodies)]
            connection.request("POST", "/recommend", body, headers)
            response = connection.getresponse()
            response.read()
            latencies[c].append((time.perf_counter() - scheduled) * 1000)
            if response.status != 200:
                failures[c] += 1
            i += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(time.perf_counter() - start, 1e-9)
    flat = [x for per_client in latencies for x in per_client]
    return {
        **percentiles(flat),
        "requests_per_s": round(len(flat) / elapsed, 1),
        "failed": sum(failures),
        "clients": CLIENTS,
        "seconds": seconds,
        **({"target_rate": rate} if rate is not None else {}),
    }


def profiles(port: int) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    words = ["comedy", "drama", "horror", "space", "love", "war", "music", "crime", "family"]
    times = []
    for r in range(PROFILE_REQUESTS):
        text = f"A {20 + r} year old who likes {words[r % 9]} and {words[(3 * r) % 9]} films."
        body = json.dumps({"user_id": f"profile-{r}", "profile": text, "k": 10}).encode()
        t = time.perf_counter()
        connection.request("POST", "/recommend", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        times.append((time.perf_counter() - t) * 1000)
        assert response.status == 200 and answer["source"] == "profile", answer
    return percentiles(times)


def measure(scale: str, port: int, seconds: float, rate: float, threads: int) -> dict:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    command = [
        sys.executable,
        __file__,
        "--server",
        scale,
        "--port",
        str(port),
        "--threads",
        str(threads),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        report = None
        for line in process.stdout:
            if line.startswith('{"ready"'):
                report = json.loads(line)["ready"]
                break
        if report is None:
            raise RuntimeError(f"the {scale} server exited with {process.wait()}")
        deadline = time.monotonic() + 120
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        from_server = build_bodies_for(report, scale)
        load(port, from_server, 3.0, None)  # warm-up: the thread pool, the allocator
        report["closed"] = load(port, from_server, seconds, None)
        print(f"  {scale} closed loop: {report['closed']}", flush=True)
        report["open"] = load(port, from_server, seconds, rate)
        print(f"  {scale} at {rate:g}/s: {report['open']}", flush=True)
        report["profile"] = profiles(port)
        report["peak_rss_serving_mb"] = round(status_mb("VmHWM", str(process.pid)), 1)
        report["rss_end_mb"] = round(status_mb("VmRSS", str(process.pid)), 1)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return report


_IDS: dict[str, tuple[list[str], list[str], np.ndarray]] = {}


def build_bodies_for(report: dict, scale: str) -> list[bytes]:
    """Request bodies over the server's catalogue: its ids are rebuilt here the way the
    server built them (the same seeded data, without the model)."""
    import pandas as pd

    if scale == "movielens":
        from mtrec.config import load_config
        from mtrec.data.sources import load_raw

        raw = load_raw(load_config(ROOT / "configs/default.yaml").data)
        log = raw.interactions.astype({"user_id": str, "item_id": str})
        item_ids = list(pd.unique(raw.items["item_id"].astype(str)))
    else:
        from bench.synthetic import generate_synthetic

        tables = generate_synthetic(1_000_000, seed=0, n_users=20_000, n_items=100_000)
        log = tables.interactions.select(["user_id", "item_id"]).to_pandas()
        item_ids = list(tables.items.column("item_id").to_numpy(zero_copy_only=False).astype(str))
    assert len(item_ids) == report["n_items"], (len(item_ids), report["n_items"])
    user_ids = list(pd.unique(log["user_id"].astype(str)))
    counts = log["item_id"].astype(str).value_counts()
    popularity = counts.reindex(item_ids, fill_value=0).to_numpy(np.float64)
    return request_bodies(user_ids, item_ids, popularity, 5_000, seed=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=SCALES)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--results", type=Path, default=ROOT / "bench/results.json")
    parser.add_argument("--server", choices=SCALES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script: the serving and bench packages
    if args.server:
        run_server_process(args.server, args.port, args.threads)
        return
    serve: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "method": (
            f"{CLIENTS} client threads in the benchmark process (same cores as the server), "
            "keep-alive HTTP/1.1; closed = each client waits for its answer; open = fixed "
            "schedule at target_rate, latency from the scheduled send time"
        ),
        "server_threads": args.threads,
    }
    for scale in args.scales:
        print(f"{scale}: building the server's model ...", flush=True)
        serve[scale] = measure(scale, args.port, args.seconds, args.rate, args.threads)
        print(f"{scale}: {json.dumps(serve[scale])}", flush=True)
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["serve"] = {**results.get("serve", {}), **serve}
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(serve, args.scales))


def table(serve: dict, scales: list[str]) -> str:
    lines = [
        "| catalogue | load | p50 ms | p95 ms | p99 ms | requests/s | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for scale in scales:
        result = serve[scale]
        for name in ("closed", "open"):
            row = result[name]
            label = (
                f"{CLIENTS} clients, closed loop"
                if name == "closed"
                else f"{row['target_rate']:g} requests/s"
            )
            lines.append(
                f"| {scale} | {label} | {row['p50_ms']} | {row['p95_ms']} | "
                f"{row['p99_ms']} | {row['requests_per_s']} | {row['failed']} |"
            )
        lines.append(
            f"| {scale} | in process, no HTTP | {result['in_process']['p50_ms']} | "
            f"{result['in_process']['p95_ms']} | {result['in_process']['p99_ms']} | | |"
        )
        lines.append(
            f"| {scale} | profile, one at a time | {result['profile']['p50_ms']} | "
            f"{result['profile']['p95_ms']} | {result['profile']['p99_ms']} | | |"
        )
    memory = ", ".join(
        f"{s}: loaded {serve[s]['rss_loaded_mb']:.0f} MB, peak serving "
        f"{serve[s]['peak_rss_serving_mb']:.0f} MB"
        for s in scales
    )
    return "\n".join(lines) + f"\n\nserver memory: {memory}"


if __name__ == "__main__":
    main()
