import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, readHead, sniffContainer, uploadProblem } from "./sniff";

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...p].map((c) => c.charCodeAt(0)) : p)));

describe("sniffContainer", () => {
  it("knows MP4/MOV, Matroska/WebM and AVI by their first bytes", () => {
    expect(sniffContainer(bytes([0, 0, 0, 0x20], "ftypisom", [0, 0, 2, 0]))).toBe("mp4");
    expect(sniffContainer(bytes([0, 0, 0, 0x14], "ftypqt  "))).toBe("mp4");
    expect(sniffContainer(bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]))).toBe("matroska");
    expect(sniffContainer(bytes("RIFF", [0x10, 0, 0, 0], "AVI LIST"))).toBe("avi");
  });

  it("refuses text, images and WAV (RIFF but not AVI)", () => {
    expect(sniffContainer(bytes("These are my holiday notes"))).toBeNull();
    expect(sniffContainer(bytes([0x89], "PNG", [0x0d, 0x0a, 0x1a, 0x0a]))).toBeNull();
    expect(sniffContainer(bytes("RIFF", [0x10, 0, 0, 0], "WAVEfmt "))).toBeNull();
    expect(sniffContainer(new Uint8Array())).toBeNull();
  });
});

describe("uploadProblem", () => {
  const mp4Head = bytes([0, 0, 0, 0x20], "ftypisom");

  it("lets a real video through", () => {
    expect(uploadProblem({ name: "dog.mp4", size: 1_738_970 }, mp4Head, DEFAULT_LIMITS)).toBeNull();
  });

  it("says in plain words that a file is too big, with the limit in MB", () => {
    const message = uploadProblem({ name: "long.mp4", size: 629_145_600 }, mp4Head, DEFAULT_LIMITS);
    expect(message).toBe(
      "“long.mp4” is 600 MB; videos can be at most 500 MB. Trim it or export it at a lower quality, then try again.",
    );
  });

  it("refuses a text file renamed .mp4 and an empty file before uploading", async () => {
    const text = new Blob(["These are my holiday notes, not a video.\n"]);
    const head = await readHead(text);
    expect(head.length).toBe(16);
    expect(uploadProblem({ name: "notes.mp4", size: text.size }, head, DEFAULT_LIMITS)).toMatch(
      /is not a video TapMask can read/,
    );
    expect(uploadProblem({ name: "empty.mp4", size: 0 }, new Uint8Array(), DEFAULT_LIMITS)).toMatch(/is empty/);
  });
});
