import { useRef, useState } from "react";
import type { Effect, ProcessingMode } from "../api";

export interface ReviewRange {
  start_frame: number;
  end_frame: number;
  reason: string;
}

interface Props {
  resultUrl: string;
  /** The upload in this tab (an object URL), when the browser can play it; null after a reload. */
  originalUrl: string | null;
  review: ReviewRange[] | null;
  frameCount: number;
  onAnother: () => void;
  /** Render the same masks with another effect (no tracking again). */
  onRenderAgain: (mode: ProcessingMode, effect: Effect) => void;
  /** Back to the frames to fix the clicks and run again; null when not possible here. */
  onCorrect: (() => void) | null;
  /** Nothing was clicked (every face hidden): no outline to fix, nothing to erase. */
  facesOnly?: boolean;
}

/** A range of frames in words: "frame 73", "frames 73–80". */
export function framesText(start: number, end: number): string {
  return start === end ? `frame ${start + 1}` : `frames ${start + 1}–${end + 1}`;
}

/** The tracker's reason without the detector's score (a number a person cannot use). */
export function reasonText(reason: string): string {
  return reason.replace(/\s*\(score [0-9.]+\)/g, "");
}

const AGAIN: { label: string; mode: ProcessingMode; effect: Effect }[] = [
  { label: "Blur", mode: "privacy", effect: "blur" },
  { label: "Pixelate", mode: "privacy", effect: "pixelate" },
  { label: "Solid fill", mode: "privacy", effect: "fill" },
  { label: "Erase", mode: "magic_eraser", effect: "blur" },
];

/**
 * The result first: before and after side by side (played together), the
 * Download button beside it, and the frames the tracker asked a person to
 * check, marked on a timeline.
 */
export function ResultView({ resultUrl, originalUrl, review, frameCount, onAnother, onRenderAgain, onCorrect, facesOnly = false }: Props) {
  const after = useRef<HTMLVideoElement>(null);
  const before = useRef<HTMLVideoElement>(null);
  const [beforePlayable, setBeforePlayable] = useState(true);
  const [duration, setDuration] = useState<number | null>(null);
  const showBefore = originalUrl !== null && beforePlayable;
  const total = Math.max(frameCount, ...(review ?? []).map((r) => r.end_frame + 1), 1);
  /** Seconds into the video where frame `frame` shows (frames spread evenly over the duration). */
  const timeOf = (frame: number) => (duration ? ((frame + 0.5) / total) * duration : null);

  /** Stop the result on a frame to check (the before video follows it). */
  const showFrame = (frame: number) => {
    const a = after.current;
    const at = timeOf(frame);
    if (!a || at === null) return;
    a.pause();
    a.currentTime = at;
    a.scrollIntoView({ block: "nearest" });
  };

  const playBoth = () => {
    const a = after.current;
    const b = before.current;
    if (!a) return;
    if (b) b.currentTime = a.currentTime;
    void a.play();
    if (b) void b.play();
  };

  return (
    <div className="result">
      <div className="buttons result-actions">
        <a className="button primary" href={resultUrl} download>
          Download
        </a>
        {showBefore && (
          <button type="button" onClick={playBoth}>
            Play before and after
          </button>
        )}
        {onCorrect && (
          <button type="button" onClick={onCorrect}>
            Fix the outline and run again
          </button>
        )}
        <button type="button" onClick={onAnother}>
          Process another video
        </button>
      </div>
      <div className={showBefore ? "compare" : "compare single"}>
        {showBefore && (
          <figure>
            <figcaption>Before</figcaption>
            <video
              ref={before}
              src={originalUrl ?? undefined}
              muted
              playsInline
              preload="metadata"
              onError={() => setBeforePlayable(false)}
            />
          </figure>
        )}
        <figure>
          <figcaption>After</figcaption>
          <video
            ref={after}
            src={resultUrl}
            controls
            playsInline
            preload="metadata"
            onLoadedMetadata={(e) => Number.isFinite(e.currentTarget.duration) && setDuration(e.currentTarget.duration)}
            onPlay={() => before.current && void before.current.play()}
            onPause={() => before.current?.pause()}
            onSeeked={() => {
              if (before.current && after.current) before.current.currentTime = after.current.currentTime;
            }}
          />
        </figure>
      </div>
      <div className="again" role="group" aria-label="Render again with the same outline">
        <span className="muted">Same outline, another look:</span>
        {AGAIN.filter((a) => !facesOnly || a.mode === "privacy").map((a) => (
          <button key={a.label} type="button" onClick={() => onRenderAgain(a.mode, a.effect)}>
            {a.label}
          </button>
        ))}
      </div>
      {review && review.length > 0 && (
        <div className="review">
          <p>
            <strong>Check these moments before sharing:</strong> the tracker was unsure there and covered a wider area to
            be safe. Click one to stop the video there.
          </p>
          <div className="review-bar" aria-hidden="true">
            {review.map((r) => (
              <span
                key={`${r.start_frame}-${r.end_frame}`}
                onClick={() => showFrame(r.start_frame)}
                style={{ left: `${(r.start_frame / total) * 100}%`, width: `${Math.max(0.5, ((r.end_frame - r.start_frame + 1) / total) * 100)}%` }}
              />
            ))}
          </div>
          <ul>
            {review.map((r) => {
              const from = timeOf(r.start_frame);
              return (
                <li key={`${r.start_frame}-${r.end_frame}`}>
                  <button type="button" className="link" disabled={from === null} onClick={() => showFrame(r.start_frame)}>
                    {framesText(r.start_frame, r.end_frame)}
                    {from !== null && ` (at ${from.toFixed(1)} s)`}
                  </button>
                  : {reasonText(r.reason)}
                </li>
              );
            })}
          </ul>
        </div>
      )}
      {review && review.length === 0 && <p className="muted">The tracker was sure of the object in every frame.</p>}
    </div>
  );
}
