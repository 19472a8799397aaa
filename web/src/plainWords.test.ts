import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { plainError, previewError } from "./plainWords";

describe("plainError", () => {
  it("turns the size refusal into megabytes and what to do", () => {
    expect(plainError(new ApiError(413, "file is 629145600 bytes; the limit is 524288000 bytes"))).toBe(
      "This file is 600 MB; videos can be at most 500 MB. Trim it or export it at a lower quality, then try again.",
    );
  });

  it("never shows a validation log line for an empty file", () => {
    const raw = "Validation failed for POST /api/upload/presigned (size: Input should be greater than 0)";
    expect(plainError(new ApiError(400, raw))).toBe("This file is empty. Choose the video file itself.");
  });

  it("explains a file that is not a video, the quota and an unreachable server", () => {
    expect(plainError(new ApiError(422, "not a video file (no MP4, MOV, WebM, Matroska or AVI container found)"))).toMatch(
      /^This file is not a video TapMask can read/,
    );
    expect(plainError(new ApiError(429, "monthly quota used up: 10 of 10 videos this month"))).toBe(
      "You have used all 10 free videos for this month. You can process more from the 1st of next month.",
    );
    expect(plainError(new ApiError(0, "The job could not start: the server could not be reached (x)"))).toMatch(
      /could not be reached/,
    );
    expect(plainError(new ApiError(503, "Job status unavailable (HTTP 503)"))).toMatch(/^TapMask had a problem on its side/);
  });

  it("keeps a message it has no better words for", () => {
    expect(plainError(new ApiError(422, "click (2000, 10) is outside the 1280x720 frame"))).toBe(
      "click (2000, 10) is outside the 1280x720 frame",
    );
  });
});

describe("previewError", () => {
  it("says the clicks still count when the outline preview is not running", () => {
    const said = previewError(new ApiError(503, "the mask preview is not running on this server"));
    expect(said).toBe("The outline preview is not available right now. Your clicks still count: Start works without it.");
  });

  it("says what to do when the server cannot be reached, with no developer words", () => {
    const said = previewError(new ApiError(0, "The mask preview is unavailable: the server could not be reached"));
    expect(said).toBe("No outline: TapMask could not be reached. Check your connection, then click again.");
  });

  it("never shows a browser exception's name", () => {
    const said = previewError(new TypeError("createImageBitmap: The source image could not be decoded."));
    expect(said).not.toMatch(/TypeError|createImageBitmap/);
    expect(said).toMatch(/Start works without it/);
  });

  it("keeps the gateway's words for a click it refused", () => {
    expect(previewError(new ApiError(422, "click (2000, 10) is outside the 1280x720 frame"))).toBe(
      "click (2000, 10) is outside the 1280x720 frame",
    );
  });
});
