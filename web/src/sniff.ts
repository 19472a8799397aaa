/**
 * What a file is, from its first bytes, before anything is uploaded: a text file
 * renamed `.mp4` is refused in the browser in a moment instead of after a
 * 500 MB upload. The gateway probes every upload again (this is only the
 * early, friendly half).
 */

export type Container = "mp4" | "matroska" | "avi";

/** Bytes to read from the start of the file for `sniffContainer`. */
export const SNIFF_BYTES = 16;

/** The container the bytes start with, or null when it is none we accept. */
export function sniffContainer(head: Uint8Array): Container | null {
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head.length >= 8) {
    // ISO BMFF (MP4, MOV, 3GP): a box size, then the box type; files start with
    // ftyp, or (old QuickTime) with moov / mdat / wide / free / skip.
    const box = ascii(4, 8);
    if (["ftyp", "moov", "mdat", "wide", "free", "skip", "pnot"].includes(box)) return "mp4";
  }
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return "matroska"; // EBML header: Matroska and WebM
  }
  if (head.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "AVI ") return "avi";
  return null;
}

export interface UploadLimits {
  maxUploadBytes: number;
  maxDurationS: number;
}

/** The gateway's defaults, shown before the page has asked it (`GET /api/upload/limits`). */
export const DEFAULT_LIMITS: UploadLimits = { maxUploadBytes: 500 * 1024 * 1024, maxDurationS: 600 };

export function formatLimitBytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return mb >= 1024 ? `${Math.round((mb / 1024) * 10) / 10} GB` : `${Math.round(mb)} MB`;
}

export function formatDuration(seconds: number): string {
  if (seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? "" : "s"}`;
  return `${seconds} seconds`;
}

/**
 * Why `file` cannot be uploaded, in words for the person who chose it, or null
 * when it may go. `head` is the file's first `SNIFF_BYTES` bytes.
 */
export function uploadProblem(file: { name: string; size: number }, head: Uint8Array, limits: UploadLimits): string | null {
  if (file.size === 0) return `“${file.name}” is empty (0 bytes). Choose the video file itself.`;
  if (file.size > limits.maxUploadBytes) {
    const mb = Math.ceil(file.size / (1024 * 1024));
    return `“${file.name}” is ${mb} MB; videos can be at most ${formatLimitBytes(limits.maxUploadBytes)}. Trim it or export it at a lower quality, then try again.`;
  }
  if (sniffContainer(head) === null) {
    return `“${file.name}” is not a video TapMask can read. Choose an MP4, MOV, WebM, MKV or AVI file.`;
  }
  return null;
}

/** The first bytes of a file (Blob.arrayBuffer on a slice: nothing else is read). */
export async function readHead(file: Blob, bytes = SNIFF_BYTES): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, bytes).arrayBuffer());
}
