import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ApiError,
  createJob,
  errorMessage,
  eventsUrlWithToken,
  getDownloadUrl,
  getJob,
  guessContentType,
  cancelJob,
  presignUpload,
  renderAgain,
  rerunJob,
  uploadFile,
  type PresignedPost,
} from "./api";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function mockFetch(...responses: Response[]) {
  const fn = vi.fn<typeof fetch>();
  for (const r of responses) fn.mockResolvedValueOnce(r);
  vi.stubGlobal("fetch", fn);
  return fn;
}

function sentJson(fn: ReturnType<typeof mockFetch>, call = 0): unknown {
  return JSON.parse(String(fn.mock.calls[call]![1]!.body));
}

function sentHeaders(fn: ReturnType<typeof mockFetch>, call = 0): Record<string, string> {
  return fn.mock.calls[call]![1]!.headers as Record<string, string>;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("guessContentType", () => {
  it("keeps the browser's type", () => {
    expect(guessContentType({ name: "a.mkv", type: "video/webm" })).toBe("video/webm");
  });
  it("guesses from the extension when the browser gives none", () => {
    expect(guessContentType({ name: "Holiday.MKV", type: "" })).toBe("video/x-matroska");
    expect(guessContentType({ name: "clip.mov", type: "" })).toBe("video/quicktime");
    expect(guessContentType({ name: "notes", type: "" })).toBe("application/octet-stream");
  });
});

describe("presignUpload", () => {
  it("posts the file's name, type and size and returns the presign", async () => {
    const presign = { upload_key: "uploads/abc.mp4", expires_in: 900, url: "http://s3/b", fields: { key: "uploads/abc.mp4" } };
    const fetchFn = mockFetch(jsonResponse(200, presign));

    const got = await presignUpload({ name: "dog.mp4", type: "video/mp4", size: 1234 });

    expect(got).toEqual(presign);
    expect(fetchFn).toHaveBeenCalledOnce();
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/upload/presigned");
    expect(fetchFn.mock.calls[0]![1]!.method).toBe("POST");
    expect(sentHeaders(fetchFn)["Content-Type"]).toBe("application/json");
    expect(sentJson(fetchFn)).toEqual({ filename: "dog.mp4", content_type: "video/mp4", size: 1234 });
  });

  it("turns a Litestar 400 into an ApiError naming the problem", async () => {
    mockFetch(jsonResponse(400, { status_code: 400, detail: "File too large: 600 MB, the limit is 500 MB" }));

    const err = await presignUpload({ name: "big.mp4", type: "video/mp4", size: 600e6 }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).message).toBe("File too large: 600 MB, the limit is 500 MB");
  });

  it("says the server is unreachable when fetch itself fails", async () => {
    vi.stubGlobal("fetch", vi.fn<typeof fetch>().mockRejectedValue(new TypeError("Failed to fetch")));

    const err = await presignUpload({ name: "a.mp4", type: "video/mp4", size: 1 }).catch((e: unknown) => e);

    expect((err as ApiError).status).toBe(0);
    expect((err as ApiError).message).toMatch(/could not be reached.*Failed to fetch/);
  });
});

describe("createJob", () => {
  const request = {
    upload_key: "uploads/abc.mp4",
    click_x: 100.5,
    click_y: 50,
    points: [{ x: 100.5, y: 50, frame: 0, positive: true }],
    processing_mode: "privacy" as const,
    effect: "pixelate" as const,
  };

  it("sends the request body as JSON and returns the job", async () => {
    const job = { job_id: "j1", status: "pending", access_token: "tok", events_url: "/api/jobs/j1/events" };
    const fetchFn = mockFetch(jsonResponse(201, job));

    await expect(createJob(request)).resolves.toEqual(job);
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/jobs");
    expect(fetchFn.mock.calls[0]![1]!.method).toBe("POST");
    expect(sentJson(fetchFn)).toEqual(request);
  });

  it("includes Litestar validation details from `extra`", async () => {
    mockFetch(
      jsonResponse(400, {
        status_code: 400,
        detail: "Validation failed for POST /api/jobs",
        extra: [{ message: "Input should be 'privacy' or 'magic_eraser'", key: "processing_mode", source: "body" }],
      }),
    );

    const err = (await createJob(request).catch((e: unknown) => e)) as ApiError;

    expect(err.message).toBe(
      "Validation failed for POST /api/jobs (processing_mode: Input should be 'privacy' or 'magic_eraser')",
    );
    expect(err.body).toMatchObject({ status_code: 400 });
  });

  it("reports a quota 429 with the server's detail", async () => {
    mockFetch(jsonResponse(429, { status_code: 429, detail: "Monthly quota of 5 videos used up" }));

    const err = (await createJob(request).catch((e: unknown) => e)) as ApiError;

    expect(err.status).toBe(429);
    expect(err.message).toBe("Monthly quota of 5 videos used up");
  });
});

describe("job reads", () => {
  it("getJob sends the access token as a Bearer header and escapes the id", async () => {
    const fetchFn = mockFetch(jsonResponse(200, { status: "processing", stage: "tracking", percent: 40 }));

    const job = await getJob("a/b", "secret-token");

    expect(job.percent).toBe(40);
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/jobs/a%2Fb");
    expect(sentHeaders(fetchFn).Authorization).toBe("Bearer secret-token");
  });

  it("getDownloadUrl returns the presigned URL; a 404 becomes an error", async () => {
    const fetchFn = mockFetch(
      jsonResponse(200, { url: "http://s3/outputs/j1.mp4?sig=1" }),
      jsonResponse(404, { status_code: 404, detail: "No such job" }),
    );

    await expect(getDownloadUrl("j1", "tok")).resolves.toEqual({ url: "http://s3/outputs/j1.mp4?sig=1" });
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/jobs/j1/download");
    expect(sentHeaders(fetchFn).Authorization).toBe("Bearer tok");
    await expect(getDownloadUrl("j1", "wrong")).rejects.toMatchObject({ status: 404, message: "No such job" });
  });
});

describe("errorMessage", () => {
  it("reads S3's XML errors", () => {
    const xml =
      '<?xml version="1.0"?><Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>';
    expect(errorMessage(400, xml)).toBe("EntityTooLarge: Your proposed upload exceeds the maximum allowed size");
  });
  it("falls back to the status for empty or HTML bodies", () => {
    expect(errorMessage(502, "", "Upload failed")).toBe("Upload failed (HTTP 502)");
    expect(errorMessage(502, "<html><body>Bad gateway</body></html>", "Upload failed")).toBe("Upload failed (HTTP 502)");
  });
  it("shows short plain-text bodies", () => {
    expect(errorMessage(503, "service unavailable", "Job status unavailable")).toBe(
      "Job status unavailable (503): service unavailable",
    );
  });
});

describe("eventsUrlWithToken", () => {
  it("adds the token as a query parameter, escaped", () => {
    expect(eventsUrlWithToken("/api/jobs/j1/events", "a+b/c=")).toBe("/api/jobs/j1/events?token=a%2Bb%2Fc%3D");
    expect(eventsUrlWithToken("/api/jobs/j1/events?x=1", "t")).toBe("/api/jobs/j1/events?x=1&token=t");
  });
  it("keeps a URL that already carries the token (the gateway's events_url does)", () => {
    expect(eventsUrlWithToken("/api/jobs/j1/events?token=abc", "abc")).toBe("/api/jobs/j1/events?token=abc");
  });
});

/** Records what the page does with XMLHttpRequest; the test plays the server. */
class FakeXhr {
  static last: FakeXhr;
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  responseText = "";
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.last = this;
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total });
  }
  respond(status: number, text = "") {
    this.status = status;
    this.responseText = text;
    this.onload?.();
  }
}

describe("uploadFile", () => {
  const file = new Blob(["fake video bytes"], { type: "video/mp4" });

  it("sends a presigned POST as multipart with the fields first and the file last, reporting progress", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const presign: PresignedPost = {
      upload_key: "uploads/abc.mp4",
      expires_in: 900,
      url: "http://s3.local/tapmask",
      fields: { key: "uploads/abc.mp4", "Content-Type": "video/mp4", policy: "p", "x-amz-signature": "s" },
    };
    const seen: number[] = [];

    const handle = uploadFile(presign, file, (f) => seen.push(f));
    const xhr = FakeXhr.last;
    xhr.progress(4, 16);
    xhr.progress(16, 16);
    xhr.respond(204);
    await handle.done;

    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("http://s3.local/tapmask");
    const form = xhr.body as FormData;
    expect([...form.keys()]).toEqual(["key", "Content-Type", "policy", "x-amz-signature", "file"]);
    expect(form.get("key")).toBe("uploads/abc.mp4");
    expect(form.get("file")).toBeInstanceOf(Blob);
    // The browser must set the multipart boundary itself.
    expect(xhr.headers["Content-Type"]).toBeUndefined();
    expect(seen).toEqual([0.25, 1, 1]);
  });

  it("rejects with the store's reason when it refuses the upload", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const presign: PresignedPost = { upload_key: "k", expires_in: 600, url: "http://s3.local/tapmask", fields: { key: "k" } };

    const handle = uploadFile(presign, file, () => {});
    FakeXhr.last.respond(400, "<Error><Code>EntityTooLarge</Code><Message>Too big</Message></Error>");

    await expect(handle.done).rejects.toMatchObject({ status: 400, message: "EntityTooLarge: Too big" });
  });

  it("rejects on a network error and on abort", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const presign: PresignedPost = { upload_key: "k", expires_in: 600, url: "http://s3.local/tapmask", fields: { key: "k" } };

    const h1 = uploadFile(presign, file, () => {});
    FakeXhr.last.onerror?.();
    await expect(h1.done).rejects.toThrow(/could not be reached/);

    const h2 = uploadFile(presign, file, () => {});
    h2.abort();
    await expect(h2.done).rejects.toThrow("Upload cancelled");
  });
});

describe("after a job", () => {
  const created = { job_id: "j2", status: "pending", access_token: "t2", events_url: "/api/jobs/j2/events?token=t2" };

  it("renders the stored masks again with the job's token and the new effect only", async () => {
    const fetchFn = mockFetch(jsonResponse(201, created));
    expect(await renderAgain("j1", "t1", "privacy", "pixelate")).toEqual(created);
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/jobs/j1/render");
    expect(sentHeaders(fetchFn).Authorization).toBe("Bearer t1");
    expect(sentJson(fetchFn)).toEqual({ processing_mode: "privacy", effect: "pixelate" });
    const eraser = mockFetch(jsonResponse(201, created));
    await renderAgain("j1", "t1", "magic_eraser", "pixelate");
    expect(sentJson(eraser)).toEqual({ processing_mode: "magic_eraser" });
  });

  it("re-runs with every click, the main one first as object 0", async () => {
    const fetchFn = mockFetch(jsonResponse(201, created));
    await rerunJob("j1", "t1", {
      upload_key: "uploads/a.mp4",
      click_x: 10,
      click_y: 20,
      frame: 0,
      points: [{ x: 40, y: 24, frame: 120, positive: true, object_id: 0 }],
      processing_mode: "privacy",
      effect: "blur",
    });
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/jobs/j1/rerun");
    expect(sentJson(fetchFn)).toEqual({
      points: [
        { x: 10, y: 20, frame: 0, positive: true, object_id: 0 },
        { x: 40, y: 24, frame: 120, positive: true, object_id: 0 },
      ],
      processing_mode: "privacy",
      effect: "blur",
    });
  });
});

describe("cancelJob", () => {
  it("posts to the job's cancel endpoint with its token and reads the new status", async () => {
    const fetchFn = mockFetch(jsonResponse(200, { job_id: "j1", status: "cancelled" }));
    expect((await cancelJob("j1", "t1")).status).toBe("cancelled");
    expect(fetchFn.mock.calls[0]![0]).toBe("/api/jobs/j1/cancel");
    expect(fetchFn.mock.calls[0]![1]!.method).toBe("POST");
    expect(sentHeaders(fetchFn).Authorization).toBe("Bearer t1");
  });
});
