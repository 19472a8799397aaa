"""The harness both workers (tracker, renderer) run their stage in.

One Kafka message = one job stage. The harness gives the stage at-least-once
delivery without getting thrown out of its consumer group on long jobs:

* FastStream subscriber with ``AckPolicy.MANUAL`` (its default, ACK_FIRST, is
  at-most-once) and aiokafka auto-commit off; the offset of a message is committed
  explicitly, only after the stage's output and next event are published.
* While a job runs, every assigned partition is *paused* and the job runs as a
  background task (blocking work in a thread): FastStream keeps calling
  ``getone()``, which counts as polling, so ``max.poll.interval.ms`` never expires
  however long the job takes, and nothing new is delivered meanwhile.
* A failure is retried by re-publishing the event with ``attempt + 1`` after an
  exponential backoff to the worker's own retry topic (:func:`retry_topic`; the retry
  lives in Kafka, so it survives a crash). The copy keeps the event's ``event_id``: it
  is the same event, and the public topic never sees it (a retry re-published on the
  public topic with a new id looked like a new result to every outside consumer); after
  ``max_attempts`` - or at once for a ``PermanentJobError`` or a message that is
  not a valid event - the original bytes go to the dead-letter topic with reason
  headers and a ``JobFailed`` is published.
* A message that kills the worker itself (OOM, a codec segfault) is caught by a durable
  count of starts per job and stage in object storage (``tapmask_runtime.attempts``):
  once it reaches ``max_attempts``, the redelivered message is given up without running.
* SIGTERM (FastStream's shutdown hook): stop taking work, let the current job
  finish within a grace period, else abandon it uncommitted for another worker.
* Progress is throttled: an event when the percent moved by a step, and at least
  one per ``progress_interval_s`` while the job runs (tapmask_runtime.progress).

The pieces it runs with live one idea to a module: its settings (``WorkerSettings`` in
tapmask_runtime.settings), how a stage ends (tapmask_runtime.errors), the object store
(tapmask_runtime.object_store), metrics (tapmask_runtime.metrics) and progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from tapmask_runtime.asyncapi import event_publisher
from tapmask_runtime.attempts import AttemptLedger, SmallObjects
from tapmask_runtime.cancels import cancel_key
from tapmask_runtime.errors import (
    JobAbandoned,
    JobCancelled,
    ObjectMissingError,
    PermanentJobError,
    StageTimedOut,
)
from tapmask_runtime.kafka import consumer_lag, declared_topic
from tapmask_runtime.logging import job_context
from tapmask_runtime.metrics import WorkerMetrics
from tapmask_runtime.object_store import ObjectStore, S3ObjectStore
from tapmask_runtime.progress import ProgressReporter
from tapmask_runtime.settings import KafkaSettings, WorkerSettings
from tapmask_runtime.tracing import stage_span
from tapmask_schemas import Event, JobFailed, JobProgress, Stage
from tapmask_schemas.topics import DEAD_LETTER, JOB_FAILED, JOB_PROGRESS, key_for

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker, KafkaRouter

# Importable from here too, for the handlers written against the one-module harness.
__all__ = [
    "JobAbandoned",
    "JobCancelled",
    "JobContext",
    "ObjectMissingError",
    "ObjectStore",
    "PermanentJobError",
    "S3ObjectStore",
    "StageHandler",
    "StageTimedOut",
    "StageWorker",
    "WorkerMetrics",
    "WorkerSettings",
    "retry_topic",
    "stable_event_id",
]

log = logging.getLogger("tapmask.worker")

_EVENT_ID_NAMESPACE = uuid.UUID("6c1f0c52-5d8e-4a86-9b0e-7d3f4e2a9c11")


def retry_topic(topic: str, service: str) -> str:
    """The topic ``service`` re-publishes failed events of ``topic`` to, for itself alone:
    e.g. ``tapmask.job-created.retry.tracker``."""
    return f"{topic}.retry.{service}"


def stable_event_id(job_id: uuid.UUID, event_type: str) -> uuid.UUID:
    """The event id of a stage's *result* event: the same on every redelivery, so a
    re-published result is a duplicate that consumers drop by ``event_id``."""
    return uuid.uuid5(_EVENT_ID_NAMESPACE, f"{job_id}/{event_type}")


@dataclass
class JobContext:
    """What a stage handler gets besides its event."""

    job_id: uuid.UUID
    attempt: int
    progress: ProgressReporter
    metrics: WorkerMetrics
    abandon: threading.Event

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run CPU-bound work in a thread (contextvars - the log job id - follow it)."""
        return await asyncio.to_thread(fn, *args)


E = TypeVar("E", bound=Event)
StageHandler = Callable[[E, JobContext], Awaitable[None]]


def _record(msg: KafkaMessage) -> ConsumerRecord[Any, Any]:
    raw = msg.raw_message
    if isinstance(raw, tuple):  # batch subscribers only; the harness never makes one
        raise TypeError("StageWorker handles one record at a time")
    return raw


def _read_job_id(body: bytes) -> uuid.UUID | None:
    """A job id from a message that failed validation, if one can be read at all."""
    try:
        data = json.loads(body)
        return uuid.UUID(str(data["job_id"]))
    except (ValueError, TypeError, KeyError):
        return None


class _PauseWhileBusy(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions assigned while a job runs start paused (a rebalance resets pauses), and
    each assigned partition gets a committed offset (:func:`commit_start_offsets`)."""

    def __init__(self, worker: StageWorker[Any]) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        job = self._worker.running_record
        if job is not None and job in revoked:
            log.warning("partition %s of the running job was revoked; it will be redone", job)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._worker.consumer
        if consumer is None or not assigned:
            return
        if self._worker.busy:
            consumer.pause(*assigned)
        await commit_start_offsets(consumer, assigned)


async def commit_start_offsets(consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
    """Commit, on each of ``assigned`` that has no committed offset, the offset the worker
    starts from there anyway (``auto_offset_reset="earliest"``: the oldest event kept).

    Called when partitions are assigned, before anything is fetched, so it never commits
    past an event. Why: KEDA scales the workers on their group's lag and, with
    ``offsetResetPolicy: earliest``, reads a partition without a committed offset as lagging
    by its whole history, events deleted by retention included (kedacore/keda#7936). Kafka
    forgets an idle group's offsets (``offsets.retention.minutes``, 7 days by default) while
    the events are deleted after 22 h, so a worker at zero replicas for a week would be woken,
    find nothing to consume, commit nothing, and be held at its maximum replicas for good.
    A failure here is only logged: consuming does not depend on it."""
    try:
        missing = [tp for tp in sorted(assigned) if await consumer.committed(tp) is None]
        if not missing:
            return
        starts = await consumer.beginning_offsets(missing)
        await consumer.commit({tp: starts[tp] for tp in missing})
        log.info("committed the start offsets of %d partitions new to the group", len(missing))
    except KafkaError:
        log.warning("could not commit the start offsets of new partitions", exc_info=True)


class StageWorker(Generic[E]):
    """Consumes ``topic``, runs ``handle`` for each event, one job at a time.

    ``broker`` may be a ``KafkaRouter`` (e.g. one with a topic prefix) included in the
    broker afterwards."""

    def __init__(
        self,
        broker: KafkaBroker | KafkaRouter,
        *,
        service: str,
        topic: str,
        event_model: type[E],
        failure_stage: Stage,
        handle: StageHandler[E],
        settings: WorkerSettings,
        kafka: KafkaSettings,
        metrics: WorkerMetrics,
        progress_span_end: Callable[[E], float] | None = None,
        attempts: AttemptLedger | None = None,
        cancels: SmallObjects | None = None,
    ) -> None:
        """``attempts``: the durable start counts that stop crash loops (None: only
        failures the worker survives are counted - in-memory tests)."""
        self.service = service
        self._attempts = attempts
        # Where the gateway leaves a cancelled job's marker (None: nothing is cancelled).
        self._cancels = cancels
        self.topic = topic
        self._model = event_model
        self._failure_stage = failure_stage
        self._handle = handle
        self._settings = settings
        self.metrics = metrics
        self._span_end = progress_span_end
        # Payload schemas for AsyncAPI (tapmask_runtime.asyncapi); dead letters are the
        # original bytes, whatever they were.
        self._progress_pub: Any = event_publisher(broker, JOB_PROGRESS)
        self._failed_pub: Any = event_publisher(broker, JOB_FAILED)
        self._dead_pub: Any = broker.publisher(DEAD_LETTER)
        self.retry_topic = retry_topic(topic, service)
        self._retry_pub: Any = broker.publisher(self.retry_topic, schema=event_model)
        self.subscriber = broker.subscriber(
            declared_topic(topic, kafka),
            declared_topic(self.retry_topic, kafka),
            group_id=settings.group_id or f"tapmask-{service}",
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_poll_interval_ms=kafka.max_poll_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            listener=_PauseWhileBusy(self),
        )
        self.subscriber(self._on_message)
        self._task: asyncio.Task[None] | None = None
        self._queued: set[asyncio.Task[None]] = set()
        self._abandon = threading.Event()
        self._draining = False
        self.running_record: TopicPartition | None = None
        # Event ids whose stage completed here (bounded): an in-process redelivery
        # is committed and skipped instead of redone.
        self._done: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._lag_task: asyncio.Task[None] | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        consumer = getattr(self.subscriber, "consumer", None)
        return consumer if isinstance(consumer, AIOKafkaConsumer) else None

    async def wait_idle(self) -> None:
        """Until the current job and any queued behind it are over (tests, shutdown)."""
        while True:
            live = {t for t in (self._task, *self._queued) if t is not None and not t.done()}
            if not live:
                return
            await asyncio.wait(live)

    async def _after_current(self, msg: KafkaMessage) -> None:
        while self.busy:
            assert self._task is not None
            await asyncio.wait({self._task})
        if not self._draining:
            await self._on_message(msg)

    # -- publishing --------------------------------------------------------------------

    async def publish(self, publisher: Any, event: Event, **kw: Any) -> None:
        await publisher.publish(event, key=key_for(event.job_id), **kw)

    async def _publish_progress(self, event: JobProgress) -> None:
        await self.publish(self._progress_pub, event)

    # -- consuming ---------------------------------------------------------------------

    async def _on_message(self, msg: KafkaMessage) -> None:
        record = _record(msg)
        consumer = msg.consumer if isinstance(msg.consumer, AIOKafkaConsumer) else None
        tp = TopicPartition(record.topic, record.partition)
        if self.busy or self._draining:
            if consumer is None:
                # In-memory test broker: no partitions to pause; queue behind the job
                # (which may itself be publishing this message, as a retry).
                later = asyncio.create_task(self._after_current(msg))
                self._queued.add(later)
                later.add_done_callback(self._queued.discard)
                return
            # Not now: rewind so the message is fetched again once resumed.
            consumer.seek(tp, record.offset)
            consumer.pause(tp)
            return
        if consumer is not None:
            consumer.pause(*consumer.assignment())
        self.running_record = tp
        self._task = asyncio.create_task(self._run(msg, consumer, tp))

    async def _run(
        self, msg: KafkaMessage, consumer: AIOKafkaConsumer | None, tp: TopicPartition
    ) -> None:
        record = _record(msg)
        commit = False
        try:
            commit = await self._process(bytes(msg.body or b""), msg)
        except asyncio.CancelledError:
            log.warning("job abandoned at shutdown; left uncommitted for another worker")
            raise
        except Exception:
            # The harness itself failed (e.g. Kafka down while dead-lettering):
            # rewind so the message is not skipped, and back off a little.
            log.exception("could not settle message %s@%s; will retry it", tp, record.offset)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    consumer.seek(tp, record.offset)
            await asyncio.sleep(self._settings.backoff_initial_s)
        finally:
            self.running_record = None
            if commit:
                await self._commit(msg, consumer, tp, record.offset)
            if consumer is not None and not self._draining:
                consumer.resume(*consumer.paused())

    async def _commit(
        self, msg: KafkaMessage, consumer: AIOKafkaConsumer | None, tp: TopicPartition, offset: int
    ) -> None:
        try:
            if consumer is None:
                await msg.ack()
            else:
                await consumer.commit({tp: offset + 1})
                # A rebalance during the job resets positions to the committed offset,
                # which would fetch this message once more: move past it.
                if tp in consumer.assignment():
                    consumer.seek(tp, offset + 1)
            self.metrics.count("committed")
        except (KafkaError, AssertionError, ValueError) as exc:
            # Lost the partition in a rebalance: whoever owns it now redoes the
            # stage, and the deterministic output key makes that harmless.
            log.warning("commit of %s@%s failed (%s); it will be redelivered", tp, offset, exc)

    async def _is_cancelled(self, job_id: uuid.UUID) -> bool:
        if self._cancels is None:
            return False
        return await self._cancels.read_bytes(cancel_key(job_id)) is not None

    async def _process(self, body: bytes, msg: KafkaMessage) -> bool:
        """Run one message; True when its offset may be committed."""
        try:
            event = self._model.model_validate_json(body)
        except ValidationError as exc:
            job_id = _read_job_id(body)
            reason = f"not a valid {self._model.__name__} event: {exc.errors()[0]['msg']}"
            with job_context(str(job_id or "")):
                log.error("poison message dead-lettered: %s", reason)
            await self._dead_letter(body, msg, reason, attempts=0)
            if job_id is not None:
                await self._fail(job_id, "The job's request could not be read.")
            self.metrics.count("poison")
            return True
        with job_context(event.job_id):
            return await self._process_event(event, body, msg)

    async def _process_event(self, event: E, body: bytes, msg: KafkaMessage) -> bool:
        if event.event_id in self._done:
            log.info("duplicate event %s dropped", event.event_id)
            self.metrics.count("duplicate")
            return True

        attempt: int = getattr(event, "attempt", 1)
        starts = await self._starts_before(event)
        if starts >= self._settings.max_attempts:
            # Every earlier start of this stage ended without an outcome or a retry
            # beyond ``attempt - 1``: the rest killed the worker. Don't run it again.
            crashes = max(1, starts - (attempt - 1))
            reason = (
                f"the worker crashed {crashes} time{'s' * (crashes != 1)} on this job: "
                "it stopped without "
                "finishing (running out of memory or a crash decoding the video are "
                "the usual causes)."
            )
            log.error("crash loop: %s", reason)
            self.metrics.count("crash_looped")
            await self._give_up(body, msg, event, reason[0].upper() + reason[1:], starts)
            await self._settle_attempts(event)
            return True
        if await self._is_cancelled(event.job_id):
            log.info("job cancelled by its owner before this stage; not started")
            self.metrics.count("cancelled")
            await self._settle_attempts(event)
            return True
        if self._attempts is not None:
            await self._attempts.record_start(event.job_id, starts)
        abandon = self._abandon
        video = getattr(event, "video", None)
        seconds = float(getattr(video, "duration_seconds", 0.0) or 0.0)
        budget = self._settings.stage_budget_s(seconds)
        too_long = (
            f"This step took longer than {budget:.0f} s, the most a {seconds:.0f} s video "
            "may take; the video may be damaged or unusually hard to process."
        )
        reporter = ProgressReporter(
            event.job_id,
            self._publish_progress,
            interval_s=self._settings.progress_interval_s,
            step_percent=self._settings.progress_step_percent,
            abandon=abandon,
            deadline=(time.monotonic() + budget, too_long),
            cancelled=(lambda: self._is_cancelled(event.job_id)) if self._cancels else None,
        )
        ctx = JobContext(event.job_id, attempt, reporter, self.metrics, abandon)
        self.metrics.in_progress.labels(self.service).inc()
        # ETA: to the end of this worker's share of the job's percent.
        reporter.start(self._span_end(event) if self._span_end else None)
        try:
            with self.metrics.timed("total"), stage_span(self.service, event.job_id):
                try:
                    # Pipelines stop at their next progress update past the budget; this
                    # is the backstop for one stuck where it reports nothing.
                    async with asyncio.timeout(budget + min(60.0, budget)):
                        await self._handle(event, ctx)
                except TimeoutError:
                    raise StageTimedOut(too_long) from None
        except JobAbandoned:
            log.warning("job abandoned at shutdown; left uncommitted for another worker")
            self.metrics.count("abandoned")
            await self._forget_start(event, starts)
            return False
        except JobCancelled:
            log.info("job cancelled by its owner; stopped")
            self.metrics.count("cancelled")
            await self._settle_attempts(event)
            return True
        except PermanentJobError as exc:
            log.error("job failed for good: %s", exc)
            await self._give_up(body, msg, event, str(exc), attempt)
            await self._settle_attempts(event)
            return True
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if attempt >= self._settings.max_attempts:
                log.exception("attempt %d failed, giving up: %s", attempt, reason)
                await self._give_up(
                    body,
                    msg,
                    event,
                    f"Processing failed after {attempt} attempts.",
                    attempt,
                    detail=reason,
                )
                await self._settle_attempts(event)
                return True
            delay = min(
                self._settings.backoff_initial_s * 2 ** (attempt - 1), self._settings.backoff_max_s
            )
            log.warning("attempt %d failed (%s); retrying in %.1f s", attempt, reason, delay)
            self.metrics.count("retried")
            await asyncio.sleep(delay)
            retry = event.model_copy(update={"attempt": attempt + 1})
            await self.publish(self._retry_pub, retry)
            return True
        finally:
            await reporter.stop()
            self.metrics.in_progress.labels(self.service).dec()
        await self._settle_attempts(event)
        self._done[event.event_id] = None
        while len(self._done) > 10_000:
            self._done.popitem(last=False)
        self.metrics.count("completed")
        return True

    async def _starts_before(self, event: E) -> int:
        """Recorded starts of this job's stage; a storage error propagates, so the
        message is rewound and retried rather than run uncounted."""
        if self._attempts is None:
            return 0
        return await self._attempts.starts(event.job_id)

    async def _settle_attempts(self, event: E) -> None:
        if self._attempts is None:
            return
        try:
            await self._attempts.settle(event.job_id)
        except Exception:  # a leftover record only matters if this stage comes back
            log.warning("could not clear the attempts record", exc_info=True)

    async def _forget_start(self, event: E, starts_before: int) -> None:
        if self._attempts is None:
            return
        try:
            await self._attempts.forget_start(event.job_id, starts_before)
        except Exception:
            log.warning("could not undo the abandoned start", exc_info=True)

    async def _give_up(
        self,
        body: bytes,
        msg: KafkaMessage,
        event: E,
        reason: str,
        attempt: int,
        detail: str | None = None,
    ) -> None:
        await self._dead_letter(body, msg, detail or reason, attempts=attempt)
        await self._fail(event.job_id, reason)
        self.metrics.count("failed")

    async def _dead_letter(
        self, body: bytes, msg: KafkaMessage, reason: str, attempts: int
    ) -> None:
        record = _record(msg)
        headers = {
            "x-reason": reason[:1000],
            "x-service": self.service,
            # Where the event came from: the public topic, also for its retries.
            "x-original-topic": str(record.topic).removesuffix(
                self.retry_topic.removeprefix(self.topic)
            ),
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
            "x-attempts": str(attempts),
        }
        await self._dead_pub.publish(body, key=record.key or None, headers=headers)
        self.metrics.count("dead_lettered")

    async def _fail(self, job_id: uuid.UUID, reason: str) -> None:
        failed = JobFailed(
            event_id=stable_event_id(job_id, f"job-failed/{self._failure_stage}"),
            job_id=job_id,
            stage=self._failure_stage,
            reason=reason,
            retryable=False,
        )
        await self.publish(self._failed_pub, failed)

    # -- lifecycle ---------------------------------------------------------------------

    async def start_background(self) -> None:
        """Start the consumer-lag sampler (call after the broker started)."""
        self._lag_task = asyncio.create_task(self._sample_lag())

    async def _sample_lag(self) -> None:
        while True:
            consumer = self.consumer
            if consumer is None:
                await asyncio.sleep(self._settings.lag_interval_s)
                continue
            try:
                for tp, lag in (await consumer_lag(consumer)).items():
                    self.metrics.lag.labels(self.service, tp.topic, str(tp.partition)).set(lag)
            except Exception:
                log.debug("consumer lag sample failed", exc_info=True)
            await asyncio.sleep(self._settings.lag_interval_s)

    async def shutdown(self) -> None:
        """SIGTERM: take no more work; finish the job within the grace, else abandon it."""
        self._draining = True
        if self._lag_task is not None:
            self._lag_task.cancel()
        if not self.busy or self._task is None:
            return
        log.info(
            "shutting down: waiting up to %.0f s for the running job",
            self._settings.shutdown_grace_s,
        )
        done, _ = await asyncio.wait({self._task}, timeout=self._settings.shutdown_grace_s)
        if done:
            return
        # Pipelines notice at their next progress callback; the offset stays uncommitted.
        self._abandon.set()
        done, _ = await asyncio.wait({self._task}, timeout=5)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
