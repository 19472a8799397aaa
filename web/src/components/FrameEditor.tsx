import { useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { fetchMask, frameUrl, type UploadVideo } from "../api";
import { addClick, clicksOn, correctionsOn, newObject, removeObject, undoClick, type Click, type MarkedObject } from "../objects";
import { frameNote, type Tracked } from "../live";
import { previewError } from "../plainWords";
import { tint } from "../tint";

interface Props {
  uploadKey: string;
  video: UploadVideo;
  objects: MarkedObject[];
  onObjectsChange: (objects: MarkedObject[]) => void;
  activeKey: number;
  onActiveChange: (key: number) => void;
  frame: number;
  onFrameChange: (frame: number) => void;
  disabled?: boolean;
  /** While the job tracks: the tracker's outline on the frames it has passed. */
  tracked?: Tracked | null;
}

/** A tinted mask ready to draw, for one object's clicks on one frame. */
interface Preview {
  signature: string;
  /** The frame it is the outline of: drawn on that frame only, never on another. */
  frame: number;
  image: HTMLCanvasElement | null;
  pixels: number;
  state: "loading" | "ready" | "error";
  error?: string;
  /** When the request started (ms), to say how long a slow outline has taken. */
  since: number;
}

/** Ring radius of a marker, CSS px: a fingertip, drawn as a ring so a small object stays visible. */
const MARKER_RADIUS = 14;
/** Keyboard steps, as a share of the frame's longer side. */
const STEP = 0.01;
const BIG_STEP = 0.05;
/** How often a busy outline preview is asked again before the row says so. */
const BUSY_RETRIES = 3;

function signatureOf(key: string, frame: number, clicks: Click[]): string {
  return JSON.stringify([key, frame, clicks.map((c) => [c.x, c.y, c.positive])]);
}

function formatTime(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

/**
 * Any frame of the upload (served by the gateway, so every accepted format
 * works), the clicked objects' masks over it, and the controls to mark them:
 * mouse, touch or keyboard (arrows move a crosshair, Enter or Space place a
 * point, X switches between "this is it" and "not this").
 */
export function FrameEditor({
  uploadKey,
  video,
  objects,
  onObjectsChange,
  activeKey,
  onActiveChange,
  frame,
  onFrameChange,
  disabled = false,
  tracked = null,
}: Props) {
  const { display_width: width, display_height: height, frame_count: frameCount } = video;
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [positive, setPositive] = useState(true);
  const [crosshair, setCrosshair] = useState<{ x: number; y: number } | null>(null);
  const [zoom, setZoom] = useState(1);
  // Where a zoom centres (frame pixels), set by the zoom buttons just before zooming.
  const zoomTarget = useRef<{ x: number; y: number } | null>(null);
  const [slider, setSlider] = useState(frame);
  const [frameState, setFrameState] = useState<"loading" | "ready" | "error">("loading");
  const [previews, setPreviews] = useState<Record<number, Preview>>({});
  const previewsRef = useRef(previews);
  previewsRef.current = previews;

  useEffect(() => setSlider(frame), [frame]);
  // The slider moves freely; the frame follows once it rests (each frame is a server decode).
  useEffect(() => {
    if (slider === frame) return;
    const t = setTimeout(() => onFrameChange(slider), 200);
    return () => clearTimeout(t);
  }, [slider, frame, onFrameChange]);
  useEffect(() => setFrameState("loading"), [frame, uploadKey]);

  // Ask for each object's mask on this frame when its clicks here change.
  useEffect(() => {
    const controllers: AbortController[] = [];
    for (const object of objects) {
      const clicks = clicksOn(object, frame);
      if (!clicks.length) continue;
      const signature = signatureOf(uploadKey, frame, clicks) + object.colour;
      if (previewsRef.current[object.key]?.signature === signature) continue;
      const controller = new AbortController();
      controllers.push(controller);
      // A new click supersedes the old request (aborted below); the old outline stays only
      // on its own frame, so a mask is never drawn over a frame it was not made on.
      setPreviews((p) => ({
        ...p,
        [object.key]: {
          signature,
          frame,
          image: p[object.key]?.frame === frame ? (p[object.key]?.image ?? null) : null,
          pixels: 0,
          state: "loading",
          since: Date.now(),
        },
      }));
      const points = clicks.map(({ x, y, positive: pos }) => ({ x, y, positive: pos }));
      // A busy preview (429/503, e.g. many clicks at once on the server) is asked again a
      // few times, a little later each time, before the row says it is unavailable.
      const ask = (tries: number): Promise<Blob> =>
        fetchMask(uploadKey, frame, points, controller.signal).catch(async (err: unknown) => {
          const status = (err as { status?: number }).status;
          if ((status === 429 || status === 503) && tries < BUSY_RETRIES && !controller.signal.aborted) {
            await new Promise((resolve) => setTimeout(resolve, 1500 * (tries + 1)));
            if (!controller.signal.aborted) return ask(tries + 1);
          }
          throw err;
        });
      ask(0)
        .then((blob) => tint(blob, object.colour))
        .then(({ canvas: image, pixels }) =>
          setPreviews((p) =>
            p[object.key]?.signature === signature ? { ...p, [object.key]: { signature, frame, image, pixels, state: "ready", since: 0 } } : p,
          ),
        )
        .catch((err: unknown) => {
          if ((err as Error).name === "AbortError" || controller.signal.aborted) return;
          // 409: the server dropped this click for a newer one of ours (its answer is coming).
          if ((err as { status?: number }).status === 409) return;
          const message = previewError(err);
          setPreviews((p) =>
            p[object.key]?.signature === signature
              ? { ...p, [object.key]: { signature, frame, image: null, pixels: 0, state: "error", error: message, since: 0 } }
              : p,
          );
        });
    }
    return () => controllers.forEach((c) => c.abort());
  }, [objects, frame, uploadKey]);

  const visible = (object: MarkedObject) => clicksOn(object, frame).length > 0;
  const trackedHere = tracked?.outlines.get(frame) ?? null;
  const clickedHere = objects.some((o) => visible(o) && previews[o.key]?.frame === frame && previews[o.key]?.image);

  // A slow outline says how long it has taken so far (a tick a second while one loads).
  const [, setTick] = useState(0);
  const loading = Object.values(previews).some((p) => p.state === "loading");
  useEffect(() => {
    if (!loading) return;
    const t = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [loading]);

  const draw = useCallback(() => {
    const c = canvas.current;
    if (!c) return;
    const w = c.clientWidth;
    const h = c.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext("2d");
    if (!ctx || w === 0 || h === 0) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const sx = w / width;
    const sy = h / height;
    // A smaller ring on a small frame (a phone): it must not hide a small object.
    const radius = Math.min(MARKER_RADIUS, Math.max(8, w * 0.025));
    // The tracker's outline on this very frame, unless a click's own outline is there.
    if (trackedHere && !clickedHere) ctx.drawImage(trackedHere, 0, 0, w, h);
    for (const object of objects) {
      const preview = previews[object.key];
      if (visible(object) && preview?.frame === frame && preview.image) ctx.drawImage(preview.image, 0, 0, w, h);
    }
    for (const object of objects) {
      for (const click of object.clicks) {
        if (click.frame !== frame) continue;
        const x = click.x * sx;
        const y = click.y * sy;
        ctx.lineWidth = 5;
        ctx.strokeStyle = "rgba(0,0,0,0.55)";
        ctx.beginPath();
        ctx.arc(x, y, radius, 0, Math.PI * 2);
        ctx.stroke();
        ctx.lineWidth = 3;
        ctx.strokeStyle = click.positive ? object.colour : "#ffffff";
        ctx.stroke();
        ctx.lineWidth = 2.5;
        ctx.beginPath();
        if (click.positive) {
          ctx.moveTo(x - 5, y);
          ctx.lineTo(x + 5, y);
          ctx.moveTo(x, y - 5);
          ctx.lineTo(x, y + 5);
          ctx.strokeStyle = "#ffffff";
        } else {
          ctx.moveTo(x - 5, y);
          ctx.lineTo(x + 5, y);
          ctx.strokeStyle = "#dc2626";
        }
        ctx.stroke();
      }
    }
    if (crosshair) {
      const x = crosshair.x * sx;
      const y = crosshair.y * sy;
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#ffffff";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, h);
      ctx.moveTo(0, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.arc(x, y, MARKER_RADIUS, 0, Math.PI * 2);
      ctx.strokeStyle = positive ? "#22c55e" : "#dc2626";
      ctx.lineWidth = 2.5;
      ctx.stroke();
    }
  }, [objects, previews, frame, crosshair, positive, width, height, trackedHere, clickedHere]);

  useEffect(draw, [draw]);

  // Zoomed, the frame scrolls inside its box: centre what was being marked.
  useLayoutEffect(() => {
    const el = scroller.current;
    const at = zoomTarget.current;
    zoomTarget.current = null;
    if (!el || !at) return;
    el.scrollLeft = (at.x / width) * el.scrollWidth - el.clientWidth / 2;
    el.scrollTop = (at.y / height) * el.scrollHeight - el.clientHeight / 2;
  }, [zoom, width, height]);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const observer = new ResizeObserver(() => draw());
    observer.observe(c);
    return () => observer.disconnect();
  }, [draw]);

  const place = (x: number, y: number) => {
    if (disabled) return;
    const click: Click = {
      x: Math.round(Math.min(Math.max(x, 0), width - 1) * 10) / 10,
      y: Math.round(Math.min(Math.max(y, 0), height - 1) * 10) / 10,
      frame,
      positive,
    };
    onObjectsChange(addClick(objects, activeKey, click));
  };

  const onPointerUp = (e: PointerEvent<HTMLCanvasElement>) => {
    if (disabled || frameState !== "ready") return;
    if (e.pointerType === "mouse" && e.button !== 0) return;
    const rect = e.currentTarget.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return;
    const x = ((e.clientX - rect.left) / rect.width) * width;
    const y = ((e.clientY - rect.top) / rect.height) * height;
    setCrosshair(null);
    // Shift-click still marks "not this" for those who know it.
    if (e.shiftKey && positive) {
      onObjectsChange(addClick(objects, activeKey, { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10, frame, positive: false }));
      return;
    }
    place(x, y);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLCanvasElement>) => {
    if (disabled) return;
    const step = (e.shiftKey ? BIG_STEP : STEP) * Math.max(width, height);
    const at = crosshair ?? { x: width / 2, y: height / 2 };
    const move: Record<string, [number, number]> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, -step],
      ArrowDown: [0, step],
    };
    if (e.key in move) {
      e.preventDefault();
      const [dx, dy] = move[e.key];
      setCrosshair({ x: Math.min(Math.max(at.x + dx, 0), width - 1), y: Math.min(Math.max(at.y + dy, 0), height - 1) });
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      if (frameState === "ready") place(at.x, at.y);
      setCrosshair(at);
    } else if (e.key === "x" || e.key === "X") {
      setPositive((p) => !p);
    } else if (e.key === "Backspace" || e.key === "Delete") {
      e.preventDefault();
      onObjectsChange(undoClick(objects, activeKey));
    }
  };

  const active = objects.find((o) => o.key === activeKey) ?? objects[0];

  /** Zoom in or out around the crosshair, else the selected object's last point here, else the middle of the view. */
  const zoomTo = (next: number) => {
    const here = active.clicks.filter((c) => c.frame === frame);
    const el = scroller.current;
    const middle = el
      ? { x: ((el.scrollLeft + el.clientWidth / 2) / el.scrollWidth) * width, y: ((el.scrollTop + el.clientHeight / 2) / el.scrollHeight) * height }
      : { x: width / 2, y: height / 2 };
    zoomTarget.current = crosshair ?? here[here.length - 1] ?? middle;
    setZoom(next);
  };
  const activeIndex = objects.indexOf(active);
  const clickFrames = [...new Set(objects.flatMap((o) => o.clicks.map((c) => c.frame)))];
  const fps = video.fps && video.fps > 0 ? video.fps : frameCount / Math.max(video.duration_s, 1e-6);

  return (
    <div className="frame-editor">
      <div className="tools" role="toolbar" aria-label="Marking tools">
        <div className="toggle" role="group" aria-label="What a click marks">
          <button type="button" aria-pressed={positive} className={positive ? "on" : ""} onClick={() => setPositive(true)} disabled={disabled}>
            + This is it
          </button>
          <button type="button" aria-pressed={!positive} className={!positive ? "on neg" : ""} onClick={() => setPositive(false)} disabled={disabled}>
            − Not this
          </button>
        </div>
        <div className="zoom" role="group" aria-label="Zoom">
          <button type="button" aria-label="Zoom out" disabled={zoom <= 1} onClick={() => zoomTo(Math.max(1, zoom - 1))}>
            −
          </button>
          <span aria-live="polite">{zoom}×</span>
          <button type="button" aria-label="Zoom in" disabled={zoom >= 4} onClick={() => zoomTo(Math.min(4, zoom + 1))}>
            +
          </button>
        </div>
      </div>

      <div className="frame-scroll" ref={scroller}>
        <div
          className="frame-box"
          ref={box}
          data-tracked-outline={trackedHere && !clickedHere ? frame : undefined}
          data-tracked-count={tracked ? tracked.outlines.size : undefined}
          // Unzoomed, the whole frame is in view: as wide as the page allows, and no taller
          // than the scroll box (70vh), so a phone's portrait video is not cut at the bottom.
          style={{ width: `min(${zoom * 100}%, ${((zoom * 70 * width) / height).toFixed(3)}vh)`, aspectRatio: `${width} / ${height}` }}
        >
          <img
            key={`${uploadKey}:${frame}`}
            src={frameUrl(uploadKey, frame)}
            alt={`Frame ${frame + 1} of ${frameCount}`}
            onLoad={() => setFrameState("ready")}
            onError={() => setFrameState("error")}
            draggable={false}
          />
          <canvas
            ref={canvas}
            tabIndex={disabled ? -1 : 0}
            role="application"
            aria-label={`Frame ${frame + 1}: click or tap on the object. Keyboard: arrow keys move the crosshair (Shift: faster), Enter or Space place a point, X switches between “this is it” and “not this”, Backspace undoes.`}
            aria-describedby="frame-status"
            onPointerUp={onPointerUp}
            onKeyDown={onKeyDown}
            onFocus={(e) => {
              // The crosshair is the keyboard's pointer: shown when Tab brings focus here, not
              // when a tap or click does (a touch focuses after its pointerup, which would leave
              // a crosshair in the middle of the frame).
              if (e.currentTarget.matches(":focus-visible")) setCrosshair((c) => c ?? { x: width / 2, y: height / 2 });
            }}
            onBlur={() => setCrosshair(null)}
            style={{ cursor: disabled ? "default" : "crosshair", touchAction: zoom > 1 ? "pan-x pan-y" : "manipulation" }}
          />
          {frameState === "loading" && <div className="frame-note">Loading frame {frame + 1}…</div>}
          {frameState === "error" && (
            <div className="frame-note error">This frame could not be shown. Try another frame, or upload the video again.</div>
          )}
        </div>
      </div>

      <div className="scrubber">
        <button type="button" aria-label="Previous frame" disabled={slider <= 0} onClick={() => setSlider((s) => Math.max(0, s - 1))}>
          ◀
        </button>
        <div className="scrub-track">
          <input
            type="range"
            min={0}
            max={Math.max(0, frameCount - 1)}
            value={slider}
            aria-label="Frame"
            aria-valuetext={`Frame ${slider + 1} of ${frameCount}, ${formatTime(slider / fps)}`}
            onChange={(e) => setSlider(Number(e.target.value))}
          />
          <div className="ticks" aria-hidden="true">
            {tracked && (
              <span className="tracked-band" style={{ width: `${(tracked.framesDone / Math.max(1, frameCount)) * 100}%` }} />
            )}
            {clickFrames.map((f) => (
              <span key={f} style={{ left: `${(f / Math.max(1, frameCount - 1)) * 100}%` }} />
            ))}
            {tracked?.review.map((r) => (
              <span
                key={`r${r.start}`}
                className="unsure review-range"
                style={{
                  left: `${(r.start / Math.max(1, frameCount - 1)) * 100}%`,
                  width: `max(4px, ${((r.end - r.start + 1) / Math.max(1, frameCount)) * 100}%)`,
                }}
              />
            ))}
            {tracked?.unsure.map((f) => (
              <span key={`u${f}`} className="unsure" style={{ left: `${(f / Math.max(1, frameCount - 1)) * 100}%` }} />
            ))}
          </div>
        </div>
        <button
          type="button"
          aria-label="Next frame"
          disabled={slider >= frameCount - 1}
          onClick={() => setSlider((s) => Math.min(frameCount - 1, s + 1))}
        >
          ▶
        </button>
        <span className="frame-no">
          Frame {slider + 1} / {frameCount} · {formatTime(slider / fps)}
        </span>
      </div>

      {tracked !== undefined && tracked !== null && (
        <p className="muted tracked-note" aria-live="polite">
          {frameNote(tracked, frame)}
          {tracked.unsure.length > 0 &&
            ` Check the frames marked in red on the slider (${tracked.unsure
              .slice(0, 6)
              .map((f) => f + 1)
              .join(", ")}${tracked.unsure.length > 6 ? ` and ${tracked.unsure.length - 6} more` : ""}): the outline vanished or changed size there.`}
        </p>
      )}

      <p className="muted keys-hint">
        Keyboard: Tab to the frame, arrow keys move the crosshair (Shift: faster), Enter places a point, X switches to “Not
        this”, Backspace undoes.
      </p>

      <ul className="objects" aria-label="Objects">
        {objects.map((o, i) => {
          const own = previews[o.key];
          const here = visible(o);
          // Only this frame's outline counts here (another frame's is not this one's).
          const preview = own?.frame === frame ? own : undefined;
          const frames = [...new Set(o.clicks.filter((c) => c.positive).map((c) => c.frame))];
          return (
            <li key={o.key} className={o.key === active.key ? "active" : ""}>
              <label>
                <input type="radio" name="active-object" checked={o.key === active.key} onChange={() => onActiveChange(o.key)} disabled={disabled} />
                <span className="swatch" style={{ background: o.colour }} aria-hidden="true" />
                Object {i + 1}
              </label>
              <span className="muted" data-mask-pixels={here && preview?.state === "ready" ? preview.pixels : undefined}>
                {!o.clicks.length
                  ? "click on it"
                  : here
                    ? !preview || preview.state === "loading"
                      ? `finding its outline on frame ${frame + 1}…${preview && Date.now() - preview.since > 1500 ? ` ${Math.round((Date.now() - preview.since) / 1000)} s` : ""}`
                      : preview?.state === "error"
                        ? preview.error
                        : preview?.pixels === 0
                          ? "nothing found there: click in the middle of it"
                          : "outlined: is all of it coloured? If a part is missing, click on that part too"
                    : correctionsOn(o, frame).length
                      ? "“not this” here: the job cuts this spot from the object from this frame on (no preview here)"
                      : frames.length
                      ? `marked on frame ${frames.map((f) => f + 1).join(", ")}`
                      : "only “not this” points: add a point on it"}
              </span>
              {frames.length > 0 && !here && (
                <button type="button" onClick={() => onFrameChange(frames[0])}>
                  Show
                </button>
              )}
              <button type="button" disabled={disabled || !o.clicks.length} onClick={() => onObjectsChange(undoClick(objects, o.key))}>
                Undo
              </button>
              <button
                type="button"
                aria-label={`Remove object ${i + 1}`}
                disabled={disabled || (objects.length === 1 && !o.clicks.length)}
                onClick={() => {
                  const rest = removeObject(objects, o.key);
                  onObjectsChange(rest);
                  if (o.key === active.key) onActiveChange(rest[0].key);
                }}
              >
                Remove
              </button>
            </li>
          );
        })}
      </ul>
      <div className="buttons">
        <button
          type="button"
          disabled={disabled || !active.clicks.some((c) => c.positive)}
          onClick={() => {
            const added = newObject(objects);
            onObjectsChange([...objects, added]);
            onActiveChange(added.key);
            setPositive(true);
          }}
        >
          Add another object
        </button>
      </div>
      <p id="frame-status" className="sr-only" aria-live="polite">
        {`Marking object ${activeIndex + 1}; a click marks ${positive ? "the object" : "a spot that is not the object"}.`}
      </p>
    </div>
  );
}
