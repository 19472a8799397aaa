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
