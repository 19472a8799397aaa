"""A mask-preview flood on loopback: what it leaves of the gateway's other answers, of a
normal person's click, and of the gateway's memory (issue 18).

Starts the gateway as deployed (its console script, the preview's worker process(es) with
it) against the local stack (started like ``make infra-up`` when not running; a schema of
its own in PostgreSQL; no background relay or projector), uploads one clip per client
(distinct addresses through the trusted loopback proxy), warms the preview up (one click),
then:

* ``baseline`` (``--baseline-seconds``): normal traffic alone - ``/api/health`` (Kafka,
  PostgreSQL and S3 checked for real), ``/api/upload/limits``, a presign and the upload's
  ``/api/upload/video``, one round every 0.25 s, each round from a new address - and a
  normal person clicking once every 2 s on their own upload;
* ``flood`` (``--seconds``): the same, while ``--clients`` clients each keep
  ``--in-flight`` preview clicks in flight (a new one as soon as one is answered, 50 ms
  after a refusal, each on another frame, so each may cost SAM's encoder). The flood comes
  from a process of its own at ``--nice`` 10: on loopback it shares the gateway's cores,
  and in the measuring process its event loop read the measured answers late (seconds of
  latency that was the load generator's, not the gateway's);
* ``settle``: 10 s idle, then the memory again.

Prints JSON: per phase the p50/p95/p99/max (ms) of each normal endpoint and their status
counts, the person's click (ms and statuses), the flood's status counts; the gateway's
RSS (its own process, and its children: the preview workers) after the warm-up, after
the flood and after settling; per phase the CPU seconds of the gateway, its workers and
the load generators, and the gateway's seconds waiting for a core (a busy machine's share
of any latency); the load average. Targets (issue 18): health 200 and p99 <
200 ms, the other endpoints p99 < 200 ms, the person's click answered or refused within
2 s, the gateway's RSS after the flood within 1.2x of before. The baseline is the same
run's traffic without the flood. Other agents may share the machine's cores: the load
average says how busy it was.

Run: .venv/bin/python bench/bench_preview_load.py [--clients 20 --in-flight 3 --seconds 30]
     .venv/bin/python bench/bench_preview_load.py --smoke   (a few seconds, tiny)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.measured import tracker_source  # noqa: E402
from deploy.local import stack  # noqa: E402
from tests.db_schema import new_schema  # noqa: E402

BIN = Path(sys.executable).parent
FRAMES = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clip(path: Path) -> Path:
    """320x240, 30 frames, a bright square moving: SAM sees it at 1024 px whatever the size."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(FRAMES):
            img = np.full((240, 320, 3), 30, np.uint8)
            img[80:160, 4 * i : 4 * i + 80] = (220, 120, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _percentiles(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"n": 0}
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "n": len(ms),
        "p50": round(q[49], 1),
        "p95": round(q[94], 1),
        "p99": round(q[98], 1),
        "max": round(max(ms), 1),
    }


def _rss_mb(gateway: psutil.Process) -> dict[str, float]:
    own = gateway.memory_info().rss
    children = 0
    for child in gateway.children(recursive=True):
        try:
            children += child.memory_info().rss
        except psutil.Error:
            continue
    return {"gateway": round(own / 2**20, 1), "workers": round(children / 2**20, 1)}


def _as(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def _upload(api: httpx.AsyncClient, ip: str, data: bytes) -> str:
    body = (
        await api.post(
            "/api/upload/presigned",
            headers=_as(ip),
            json={"filename": "clip.mp4", "content_type": "video/mp4", "size": len(data)},
        )
    ).json()
    async with httpx.AsyncClient(timeout=60) as s3:
        sent = await s3.post(
            body["url"], data=body["fields"], files={"file": ("clip.mp4", data, "video/mp4")}
        )
    sent.raise_for_status()
    key = str(body["upload_key"])
    facts = await api.get("/api/upload/video", headers=_as(ip), params={"key": key})
    facts.raise_for_status()
    return key


def _click(key: str, i: int) -> dict[str, Any]:
    return {"upload_key": key, "frame": i % FRAMES, "points": [{"x": 60 + i % 20, "y": 120}]}


class Traffic:
    """Normal requests, one round every 0.25 s (each round a new address), and a normal
    person clicking every 2 s, until ``stop`` is set."""

    def __init__(self, api: httpx.AsyncClient, person: tuple[str, str], viewer: tuple[str, str]):
        self.api, self.person, self.viewer = api, person, viewer
        self.ms: dict[str, list[float]] = {"health": [], "limits": [], "presign": [], "video": []}
        self.status: Counter[str] = Counter()
        self.click_ms: list[float] = []
        self.click_status: Counter[int] = Counter()

    async def _timed(self, name: str, request: Any) -> None:
        began = time.perf_counter()
        got = await request
        self.ms[name].append((time.perf_counter() - began) * 1000)
        self.status[f"{name} {got.status_code}"] += 1

    async def rounds(self, stop: asyncio.Event) -> None:
        n = 0
        viewer_ip, viewer_key = self.viewer
        while not stop.is_set():
            n += 1
            ip = f"10.90.{n // 250 % 250}.{n % 250 + 1}"
            await asyncio.gather(
                self._timed("health", self.api.get("/api/health", headers=_as(ip))),
                self._timed("limits", self.api.get("/api/upload/limits", headers=_as(ip))),
                self._timed(
                    "presign",
                    self.api.post(
                        "/api/upload/presigned",
                        headers=_as(ip),
                        json={"filename": "a.mp4", "content_type": "video/mp4", "size": 1000},
                    ),
                ),
                self._timed(
                    "video",
                    self.api.get(
                        "/api/upload/video", headers=_as(viewer_ip), params={"key": viewer_key}
                    ),
                ),
            )
            with_timeout = asyncio.create_task(stop.wait())
            await asyncio.wait({with_timeout}, timeout=0.25)
            with_timeout.cancel()

    async def clicks(self, stop: asyncio.Event) -> None:
        ip, key = self.person
        i = 0
        # The person comes 1 s into the phase: in the flood, once it is going on.
        with_timeout = asyncio.create_task(stop.wait())
        await asyncio.wait({with_timeout}, timeout=1.0)
        with_timeout.cancel()
        while not stop.is_set():
            i += 1
            began = time.perf_counter()
            got = await self.api.post("/api/upload/mask", headers=_as(ip), json=_click(key, i))
            self.click_ms.append((time.perf_counter() - began) * 1000)
            self.click_status[got.status_code] += 1
            with_timeout = asyncio.create_task(stop.wait())
            await asyncio.wait({with_timeout}, timeout=2.0)
            with_timeout.cancel()

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: _percentiles(v) for k, v in self.ms.items()}
        out["non_preview_all"] = _percentiles([t for v in self.ms.values() for t in v])
        out["statuses"] = dict(self.status)
        out["person_click_ms"] = _percentiles(self.click_ms)
        out["person_click_statuses"] = {str(k): v for k, v in self.click_status.items()}
        return out


async def _flooder(
    api: httpx.AsyncClient,
    ip: str,
    key: str,
    in_flight: int,
    stop: asyncio.Event,
    statuses: Counter[int],
    ms: list[float],
) -> None:
    async def lane(lane_no: int) -> None:
        i = lane_no * 1000
        while not stop.is_set():
            i += 1
            began = time.perf_counter()
            got = await api.post("/api/upload/mask", headers=_as(ip), json=_click(key, i))
            ms.append((time.perf_counter() - began) * 1000)
            statuses[got.status_code] += 1
            if got.status_code in (429, 503):
                await asyncio.sleep(0.05)  # a flood, but not a busy loop on the load generator

    await asyncio.gather(*(lane(n) for n in range(in_flight)))


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _runqueue_wait_s(gateway: psutil.Process) -> float:
    """Seconds the gateway's threads were ready to run but waited for a core
    (``/proc/PID/task/*/schedstat``, second field): time lost to a busy machine, not to
    the gateway's own work."""
    total = 0
    for task in Path(f"/proc/{gateway.pid}/task").glob("*/schedstat"):
        try:
            total += int(task.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _workers_cpu_s(gateway: psutil.Process) -> float:
    total = 0.0
    for child in gateway.children(recursive=True):
        try:
            total += _cpu_s(child)
        except psutil.Error:
            continue
    return total


async def _flood_child(spec: dict[str, Any]) -> dict[str, Any]:
    """The flood, in a process of its own (``--flood-child``) at a lower priority: its
    ~5 CPU-s of HTTP client work neither delays the measured requests' answers in the
    parent (an event loop busy with 60 flooding lanes read them late: seconds of made-up
    latency) nor takes the gateway's cores from it."""
    os.nice(spec["nice"])
    stop = asyncio.Event()
    statuses: Counter[int] = Counter()
    ms: list[float] = []
    limits = httpx.Limits(max_connections=len(spec["flood"]) * spec["in_flight"] + 8)
    async with httpx.AsyncClient(base_url=spec["base"], timeout=120, limits=limits) as api:
        lanes = [
            _flooder(api, ip, key, spec["in_flight"], stop, statuses, ms)
            for ip, key in spec["flood"]
        ]
        running = asyncio.gather(*lanes)
        await asyncio.sleep(spec["seconds"])
        stop.set()
        await running
    return {
        "flood_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "flood_answer_ms": _percentiles(ms),
        "flood_generator_cpu_s": round(time.process_time(), 2),
    }


async def _phase(
    gateway: psutil.Process,
    base: str,
    traffic: Traffic,
    seconds: float,
    flood: list[tuple[str, str]],
    in_flight: int,
    nice: int,
) -> dict[str, Any]:
    stop = asyncio.Event()
    child = None
    if flood:
        spec = {
            "base": base,
            "flood": flood,
            "in_flight": in_flight,
            "seconds": seconds,
            "nice": nice,
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--flood-child",
            json.dumps(spec),
            stdout=asyncio.subprocess.PIPE,
        )
    cpu0, workers0, own0 = _cpu_s(gateway), _workers_cpu_s(gateway), time.process_time()
    waited0 = _runqueue_wait_s(gateway)
    running = asyncio.gather(traffic.rounds(stop), traffic.clicks(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await running
    out = traffic.report()
    # CPU seconds over the phase: the gateway's process, its preview workers, and this
    # process (the measured traffic); the flood's generator counts its own.
    out["cpu_s"] = {
        "gateway": round(_cpu_s(gateway) - cpu0, 2),
        "preview_workers": round(_workers_cpu_s(gateway) - workers0, 2),
        "measuring_client": round(time.process_time() - own0, 2),
        "gateway_waiting_for_a_core": round(_runqueue_wait_s(gateway) - waited0, 2),
    }
    if child is not None:
        stdout, _ = await child.communicate()
        flooded = json.loads(stdout)
        out["cpu_s"]["flood_generator"] = flooded.pop("flood_generator_cpu_s")
        out |= flooded
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()[0]
    env_stack = await asyncio.to_thread(stack.up)  # reuses running pieces (make infra-up)
    dsn = await new_schema(env_stack["TAPMASK_DATABASE__URL"], "bench")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPMASK_")}
    env.update(env_stack)
    env.update(
        {
            "TAPMASK_DATABASE__URL": dsn,
            "TAPMASK_PORT": str(port),
            "TAPMASK_TOKEN_SECRET": secrets.token_hex(32),
            "TAPMASK_TRUSTED_PROXIES": '["127.0.0.1"]',
            "TAPMASK_KAFKA__TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:6]}.",
            "TAPMASK_NOTIFIER_URL": f"http://127.0.0.1:{_free_port()}",
            "TAPMASK_RUN_BACKGROUND": "false",
            "TAPMASK_LOG__LEVEL": "WARNING",
        }
    )
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / "bench-preview-load-gateway.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "tapmask-gateway"), env=env, stdout=out, stderr=out
        )
    try:
        async with httpx.AsyncClient(timeout=5) as probe_client, asyncio.timeout(120):
            while True:
                try:
                    if (await probe_client.get(f"{base}/api/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.returncode is not None:
                    raise RuntimeError(f"the gateway exited; see {log}")
                await asyncio.sleep(0.3)
        gateway = psutil.Process(proc.pid)
        rss_started = _rss_mb(gateway)
        with tempfile.TemporaryDirectory() as tmp:
            data = _clip(Path(tmp) / "clip.mp4").read_bytes()
        limits = httpx.Limits(max_connections=args.clients * args.in_flight + 32)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as api:
            ips = [f"10.60.0.{i + 1}" for i in range(args.clients)]
            keys = [await _upload(api, ip, data) for ip in ips]
            person = ("10.61.0.1", await _upload(api, "10.61.0.1", data))
            viewer = ("10.62.0.1", await _upload(api, "10.62.0.1", data))
            # Warm-up: the worker has loaded SAM and served a few clicks on other frames (its
            # onnxruntime arena at its size), as on a running site.
            for i in range(3):
                warm = await api.post(
                    "/api/upload/mask", headers=_as(viewer[0]), json=_click(viewer[1], 7 * i)
                )
                warm.raise_for_status()
            await asyncio.sleep(2.0)
            rss_before = _rss_mb(gateway)
            baseline = await _phase(
                gateway,
                base,
                Traffic(api, person, viewer),
                args.baseline_seconds,
                [],
                args.in_flight,
                args.nice,
            )
            flood = await _phase(
                gateway,
                base,
                Traffic(api, person, viewer),
                args.seconds,
                list(zip(ips, keys, strict=True)),
                args.in_flight,
                args.nice,
            )
            rss_after_flood = _rss_mb(gateway)
            await asyncio.sleep(args.settle_seconds)
            rss_settled = _rss_mb(gateway)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)
    health_ok = set(flood["statuses"]) <= {"health 200", "limits 200", "presign 200", "video 200"}
    person_max = flood["person_click_ms"].get("max", 0.0)
    ratio = rss_settled["gateway"] / rss_before["gateway"]
    return {
        "bench": "preview_load",
        "code": tracker_source(),
        "machine": f"{os.cpu_count()} cores, loopback, gateway and load generators share them",
        "load_average_at_start": round(load, 2),
        "clients": args.clients,
        "in_flight_per_client": args.in_flight,
        "flood_seconds": args.seconds,
        "flood_generator_nice": args.nice,
        "baseline": baseline,
        "flood": flood,
        "rss_mb": {
            "started": rss_started,
            "before_flood": rss_before,
            "after_flood": rss_after_flood,
            "settled": rss_settled,
            "gateway_settled_over_before": round(ratio, 3),
        },
        "targets": {
            "health_p99_ms": 200,
            "non_preview_p99_ms": 200,
            "person_click_answered_or_refused_s": 2.0,
            "gateway_rss_ratio": 1.2,
            "met": {
                "all_non_preview_200": health_ok,
                "health_p99": flood["health"].get("p99", 1e9) < 200,
                "non_preview_p99": flood["non_preview_all"].get("p99", 1e9) < 200,
                "person_click": person_max < 2000,
                "gateway_rss": ratio <= 1.2,
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument("--nice", type=int, default=10, help="the flood generator's niceness")
    parser.add_argument("--smoke", action="store_true", help="2 clients, 2 s: it runs")
    parser.add_argument("--flood-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood_child:  # the flood's own process (see _flood_child)
        print(json.dumps(asyncio.run(_flood_child(json.loads(args.flood_child)))))
        return
    if args.smoke:
        args.clients, args.in_flight, args.seconds = 2, 2, 2.0
        args.baseline_seconds, args.settle_seconds = 1.0, 0.5
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
