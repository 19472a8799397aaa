/**
 * Errors as a person reads them: what happened and what to do next, not a log
 * line. The gateway's details are precise but written for developers
 * ("file is 629145600 bytes; the limit is 524288000 bytes"); this turns the
 * ones a person meets into sentences and keeps any other detail as it is.
 */

import { ApiError } from "./api";

const MB = 1024 * 1024;

function mb(bytes: string): string {
  return `${Math.ceil(Number(bytes) / MB)} MB`;
}

function minutes(seconds: string): string {
  const s = Number(seconds);
  if (s % 60 === 0) return `${s / 60} minute${s === 60 ? "" : "s"}`;
  return `${s} seconds`;
}

function length(seconds: string): string {
  const s = Number(seconds);
  return s < 60 ? `${s} seconds` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

const RULES: [RegExp, (m: RegExpExecArray) => string][] = [
  [
    /file is (\d+) bytes; the limit is (\d+) bytes/,
    (m) => `This file is ${mb(m[1])}; videos can be at most ${Math.round(Number(m[2]) / MB)} MB. Trim it or export it at a lower quality, then try again.`,
  ],
  [/size must be a positive number|Input should be greater than 0/, () => "This file is empty. Choose the video file itself."],
  [
    /file type '([^']*)' is not supported/,
    (m) => `Files of type ${m[1]} cannot be used. Choose an MP4, MOV, WebM, MKV or AVI video.`,
  ],
  [/content type '([^']*)' does not match/, () => "The file's name and its type disagree. Rename it to match its format (.mp4, .mov, .webm, .mkv or .avi) and try again."],
  [/not a video file/, () => "This file is not a video TapMask can read. Choose an MP4, MOV, WebM, MKV or AVI file."],
  [/truncated|damaged|incomplete/, () => "This video is cut off or damaged (an unfinished copy or recording?). Try the original file."],
  [/no video stream/, () => "This file has no picture, only sound. Choose a video."],
  // The limits the gateway's probe found exceeded (tapmask_media.probe), with what to do.
  [
    /(\d+) s long, more than the (\d+) s allowed/,
    (m) => `This video is ${length(m[1])} long; videos can be at most ${minutes(m[2])}. Trim it, then upload it again.`,
  ],
  [
    /the audio track is more than (\d+) s long/,
    (m) => `This video's sound runs longer than ${minutes(m[1])}. Trim it, then upload it again.`,
  ],
  [
    /(\d+) frames per second is more than the (\d+) allowed/,
    (m) => `This video has ${m[1]} frames per second; TapMask takes up to ${m[2]}. Export it at a lower frame rate, then try again.`,
  ],
  [/more than (\d+) frames\b/, (m) => `This video has more than ${m[1]} frames. Trim it, then upload it again.`],
  [
    /(\d+)x(\d+) pixels per frame is more than the \d+ allowed/,
    (m) => `This video's picture (${m[1]}×${m[2]}) is larger than TapMask takes. Export it at a lower resolution (4K or less), then try again.`,
  ],
  [
    /(\d+)x(\d+) pixels is too small to click on; each side needs at least (\d+) pixels/,
    (m) => `This video's picture is only ${m[1]}×${m[2]} pixels, too small to click on (each side needs ${m[3]}). Choose a larger video.`,
  ],
  [
    /more than (\d+) streams/,
    (m) => `This file holds more than ${m[1]} tracks (picture, sound, subtitles…). Export it with just its picture and sound, then try again.`,
  ],
  [
    /monthly quota used up: (\d+) of (\d+)/,
    (m) => `You have used all ${m[2]} free videos for this month. You can process more from the 1st of next month.`,
  ],
  [/monthly quota used up/, () => "You have used this month's videos. You can process more from the 1st of next month."],
  [/EntityTooLarge|EntityTooSmall/, () => "The upload was refused because the file changed size while uploading. Choose the file again."],
  [/expired/, () => "This link has expired. Upload the video again."],
];

/** The error in plain words, with what to do next. */
export function plainError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  for (const [pattern, say] of RULES) {
    const m = pattern.exec(text);
    if (m) return say(m);
  }
  if (err instanceof ApiError) {
    if (err.status === 0) return "TapMask could not be reached. Check your internet connection and try again.";
    if (err.status === 429) return "Too many requests just now. Wait a minute and try again.";
    if (err.status >= 500) return `TapMask had a problem on its side (${err.status}). Try again in a minute; your file is kept.`;
    if (/^Validation failed/.test(text)) return "The request was not accepted. Reload the page and try again.";
  }
  return text;
}

/**
 * Why a click's outline is not shown, in words for the object's row: the preview only
 * helps, the job finds the object from the clicks themselves, so the person is told
 * what still works and what to try.
 */
export function previewError(err: unknown): string {
  if (err instanceof ApiError && err.status === 0) {
    return "No outline: TapMask could not be reached. Check your connection, then click again.";
  }
  if (err instanceof ApiError && err.status === 503) {
    return "The outline preview is not available right now. Your clicks still count: Start works without it.";
  }
  if (err instanceof ApiError && err.status >= 500) {
    return "The outline could not be drawn this time. Click again, or Start: your clicks still count.";
  }
  if (!(err instanceof ApiError)) {
    return "The outline could not be drawn in this browser. Your clicks still count: Start works without it.";
  }
  return plainError(err);
}
