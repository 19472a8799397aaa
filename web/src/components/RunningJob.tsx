import { pauseJob, resumeJob } from "../api";
import { partialHint, trackingState, useTracking } from "../live";
import { isMarked, jobPoints } from "../objects";
import { plainError } from "../plainWords";
import { isFinal } from "../progress";
import { saveSession } from "../session";
import { useField, type Job } from "../store";
import { FrameEditor } from "./FrameEditor";
import { JobPanel } from "./JobPanel";

interface Props {
  job: Job;
  /** The progress bar (not once the result is shown). */
  showProgress: boolean;
  watchError: string | null;
  onCancel: () => void;
}

/**
 * A running job: its progress, and while it tracks the live view (issue 19): the tracker's
 * outline on the frames it has passed, Pause, a click or a "Not this" on any frame, track
 * again, and the OK that starts rendering. Reads and writes the app's store.
 */
export function RunningJob({ job, showProgress, watchError, onCancel }: Props) {
  const [objects, setObjects] = useField("objects");
  const [activeKey, setActiveKey] = useField("activeKey");
  const [frame, setFrame] = useField("frame");
  const [upload] = useField("upload");
  const [video] = useField("video");
  const [mode] = useField("mode");
  const [effect] = useField("effect");
  const [fileName] = useField("fileName");
  const [sentPoints, setSentPoints] = useField("sentPoints");
  const [liveError, setLiveError] = useField("liveError");
  const running = !isFinal(job.progress.status);
  const message = plainError;

  // The live tracking view: the outline as the tracker follows the object.
  const stage = String(job.progress.stage ?? "");
  const tracking = running && ["queued", "downloading", "tracking"].includes(stage);
  const colour = objects.find(isMarked)?.colour ?? "#0072B2";
  const { tracked, previews: trackPreviews, hold, setHold } = useTracking(
    job.ref.jobId,
    job.ref.token,
    tracking,
    colour,
  );
  // A job with clicks from this browser, or one held for its owner's OK (opened elsewhere:
  // no frames to correct here, but the OK can be given).
  const liveActive = tracking && (sentPoints !== null || Boolean(hold?.at_end || hold?.paused));
  const live = trackingState(trackPreviews, hold);
  // The first clicked frame's outline, against the tracker's a few frames on: part only?
  const clickFrame = Math.min(...objects.flatMap((o) => o.clicks.filter((c) => c.positive).map((c) => c.frame)));
  const partial = trackPreviews && Number.isFinite(clickFrame) ? partialHint(trackPreviews.previews ?? [], clickFrame) : null;
  const canFix = liveActive && (live === "paused" || live === "ready");
  const changed = sentPoints !== null && objects.some(isMarked) && JSON.stringify(jobPoints(objects)) !== sentPoints;

  const askTracker = async (call: (jobId: string, token: string) => Promise<typeof hold>) => {
    try {
      const next = await call(job.ref.jobId, job.ref.token);
      if (next) setHold(next);
      setLiveError(null);
    } catch (err) {
      setLiveError(message(err));
    }
  };
  const pauseTracking = () => void askTracker((id, token) => pauseJob(id, token));
  const goOn = (accept: boolean) => void askTracker((id, token) => resumeJob(id, token, { accept }));
  const trackAgain = () => {
    const points = jobPoints(objects);
    void askTracker(async (id, token) => {
      const next = await resumeJob(id, token, { points });
      setSentPoints(JSON.stringify(points));
      if (upload.phase === "done" && video) {
        saveSession(id, { uploadKey: upload.key, video, objects, mode, effect, fileName: fileName ?? undefined });
      }
      return next;
    });
  };
  const liveText = (() => {
    const done = tracked?.framesDone ?? 0;
    const count = tracked?.frameCount || video?.frame_count || 0;
    const after = hold?.at_end ? " Rendering waits for your OK." : " Rendering starts by itself when it is done.";
    switch (live) {
      case "starting":
        return hold?.paused ? "Paused before the first frame." : "The tracker is starting…";
      case "tracking":
        return `Following the object: frame ${done} of ${count}. Pause it to correct the outline on any frame.${after}`;
      case "paused":
        return `Paused at frame ${tracked?.pausedAt ?? done}. Move to any frame, add a click or a “Not this” there, then track again with your changes — or go on.`;
      case "accepted":
        return "The outline is done: rendering starts.";
      case "ready":
        return "The outline is done. Check it on a few frames (red marks on the slider first). Looks right? Render it. If not, add a click or a “Not this” where it is wrong and track again.";
    }
  })();
  const livePanel = running && (liveActive || (sentPoints !== null && tracked !== null)) && (
    <section className="live" aria-labelledby="live-title" data-revision={tracked?.revision ?? 0}>
      <h3 id="live-title">The outline, as the tracker follows the object</h3>
      <p className="live-state" role="status" data-live-state={liveActive ? live : "rendering"}>
        {liveActive ? liveText : "The outline is accepted: the video is being rendered."}
      </p>
      {upload.phase === "done" && video && sentPoints !== null && (
        <FrameEditor
          uploadKey={upload.key}
          video={video}
          objects={objects}
          onObjectsChange={setObjects}
          activeKey={activeKey}
          onActiveChange={setActiveKey}
          frame={frame}
          onFrameChange={setFrame}
          disabled={!canFix}
          tracked={tracked}
        />
      )}
      {liveActive && partial && (
        <p className="notice partial" role="status">
          The outline on frame {partial.frame + 1} is about {partial.ratio}× larger than on frame {clickFrame + 1}, where you
          clicked: your click may have taken only part of the object. Compare the two; if a part is missing, pause, add a click
          on that part, and track again.{" "}
          <button type="button" onClick={() => setFrame(partial.frame)}>
            Show frame {partial.frame + 1}
          </button>
        </p>
      )}
      {liveActive && (
        <div className="buttons live-actions">
          {(live === "tracking" || live === "starting") && !hold?.paused && (
            <button type="button" onClick={pauseTracking}>
              Pause
            </button>
          )}
          {canFix && changed && (
            <button type="button" className="primary" onClick={trackAgain}>
              Track again with my changes
            </button>
          )}
          {live === "paused" && !changed && (
            <button type="button" onClick={() => goOn(false)}>
              Go on
            </button>
          )}
          {live === "ready" && !changed && (
            <button type="button" className="primary" onClick={() => goOn(true)}>
              Looks right: render it
            </button>
          )}
        </div>
      )}
      {liveError && (
        <p className="error" role="alert">
          {liveError}
        </p>
      )}
    </section>
  );


  return (
    <>
      {showProgress && (
        <JobPanel
          jobId={job.ref.jobId}
          progress={job.progress}
          watchError={watchError}
          onCancel={onCancel}
          held={liveActive && (live === "paused" || live === "ready")}
          mode={mode}
        />
      )}
      {livePanel}
    </>
  );
}
