import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { waitForDownloadUrl, watchJob } from "./jobWatch";
import type { Progress } from "./progress";

/** Stands in for the browser's EventSource; the test plays the notifier. */
class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, ((ev: { data: string }) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener(name: string, fn: (ev: { data: string }) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  emit(data: unknown, name = "message") {
    for (const fn of this.listeners.get(name) ?? []) fn({ data: JSON.stringify(data) });
  }
  fail(readyState: number) {
    this.readyState = readyState;
    this.onerror?.();
  }
}

const job = { jobId: "j1", token: "t0k", eventsUrl: "/api/jobs/j1/events" };

beforeEach(() => {
  FakeEventSource.instances = [];
  vi.stubGlobal("EventSource", FakeEventSource);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("watchJob", () => {
  it("opens the event stream with the token and delivers events until the final one", () => {
    const updates: Partial<Progress>[] = [];
    watchJob(job, (u) => updates.push(u), () => {});
    const es = FakeEventSource.instances[0]!;

    expect(es.url).toBe("/api/jobs/j1/events?token=t0k");
    es.emit({ status: "processing", stage: "tracking", percent: 10 });
    es.emit({ status: "processing", stage: "rendering", percent: 60 }, "job-progress");
    es.emit({ status: "completed", stage: "done", percent: 100 });
    es.emit({ status: "processing", stage: "rendering", percent: 70 });

    expect(updates.map((u) => u.percent)).toEqual([10, 60, 100]);
    expect(es.closed).toBe(true);
  });

  it("stops on failure with the reason", () => {
    const updates: Partial<Progress>[] = [];
    watchJob(job, (u) => updates.push(u), () => {});
    const es = FakeEventSource.instances[0]!;

    es.emit({ status: "failed", stage: "tracking", percent: 20, reason: "The object left the picture" });

    expect(updates.at(-1)).toMatchObject({ status: "failed", reason: "The object left the picture" });
    expect(es.closed).toBe(true);
  });

  it("falls back to polling the job when the stream is refused", async () => {
    vi.useFakeTimers();
    const fetchFn = vi
      .fn<typeof fetch>()
      .mockResolvedValueOnce(new Response(JSON.stringify({ status: "processing", stage: "rendering", percent: 75 })))
      .mockResolvedValueOnce(new Response(JSON.stringify({ status: "completed", stage: "done", percent: 100 })));
    vi.stubGlobal("fetch", fetchFn);
    const updates: Partial<Progress>[] = [];

    watchJob(job, (u) => updates.push(u), () => {}, { pollIntervalMs: 1000 });
    FakeEventSource.instances[0]!.fail(2);
    await vi.advanceTimersByTimeAsync(0);
    expect(updates).toEqual([{ status: "processing", stage: "rendering", percent: 75 }]);
    await vi.advanceTimersByTimeAsync(1000);

    expect(updates.at(-1)).toMatchObject({ status: "completed" });
    expect(fetchFn).toHaveBeenCalledTimes(2);
    expect((fetchFn.mock.calls[0]![1]!.headers as Record<string, string>).Authorization).toBe("Bearer t0k");
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchFn).toHaveBeenCalledTimes(2);
  });

  it("lets the browser reconnect a dropped stream before giving up on it", async () => {
    const fetchFn = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchFn);
    watchJob(job, () => {}, () => {});
    const es = FakeEventSource.instances[0]!;

    es.fail(0);
    es.emit({ status: "processing", stage: "tracking", percent: 5 });
    es.fail(0);

    expect(fetchFn).not.toHaveBeenCalled();
    expect(es.closed).toBe(false);
  });

  it("reports a 404 from the status endpoint and stops", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn<typeof fetch>().mockResolvedValue(new Response(JSON.stringify({ status_code: 404, detail: "Job not found" }), { status: 404 })),
    );
    const errors: string[] = [];

    watchJob(job, () => {}, (m) => errors.push(m));
    FakeEventSource.instances[0]!.fail(2);
    await vi.waitFor(() => expect(errors).toEqual(["Job not found"]));
  });
});

describe("waitForDownloadUrl", () => {
  const problem = (status: number, detail: string) =>
    new Response(JSON.stringify({ status_code: status, detail }), { status });

  it("retries while the gateway has not yet seen the job complete (409)", async () => {
    const fetchFn = vi
      .fn<typeof fetch>()
      .mockResolvedValueOnce(problem(409, "the job is processing (uploading)"))
      .mockResolvedValueOnce(problem(409, "the job is processing (uploading)"))
      .mockResolvedValueOnce(new Response(JSON.stringify({ url: "http://s3/out.mp4", expires_in: 3600 })));
    vi.stubGlobal("fetch", fetchFn);

    await expect(waitForDownloadUrl(job, { delayMs: 1 })).resolves.toBe("http://s3/out.mp4");
    expect(fetchFn).toHaveBeenCalledTimes(3);
  });

  it("gives up after the last attempt with the gateway's reason", async () => {
    const fetchFn = vi.fn<typeof fetch>().mockImplementation(async () => problem(409, "the job is processing (rendering)"));
    vi.stubGlobal("fetch", fetchFn);

    await expect(waitForDownloadUrl(job, { attempts: 3, delayMs: 1 })).rejects.toThrow("the job is processing (rendering)");
    expect(fetchFn).toHaveBeenCalledTimes(3);
  });

  it("waits out a connection that dropped as the job finished", async () => {
    const fetchFn = vi
      .fn<typeof fetch>()
      .mockRejectedValueOnce(new TypeError("Failed to fetch"))
      .mockRejectedValueOnce(new TypeError("Failed to fetch"))
      .mockResolvedValueOnce(new Response(JSON.stringify({ url: "http://s3/out.mp4", expires_in: 3600 })));
    vi.stubGlobal("fetch", fetchFn);

    await expect(waitForDownloadUrl(job, { delayMs: 1 })).resolves.toBe("http://s3/out.mp4");
    expect(fetchFn).toHaveBeenCalledTimes(3);
  });

  it("does not retry other errors", async () => {
    const fetchFn = vi.fn<typeof fetch>().mockResolvedValue(problem(410, "the result has expired and was deleted"));
    vi.stubGlobal("fetch", fetchFn);

    await expect(waitForDownloadUrl(job, { delayMs: 1 })).rejects.toMatchObject({ status: 410 });
    expect(fetchFn).toHaveBeenCalledOnce();
  });
});
