import { useCallback, useEffect, useRef, useState } from "react";
import {
  ApiError,
  createJob,
  guessContentType,
  presignUpload,
  uploadFile,
  type ClickPoint,
  type Effect,
  type ProcessingMode,
  type UploadHandle,
} from "./api";
import { DropZone } from "./components/DropZone";
import { FramePicker } from "./components/FramePicker";
import { JobPanel } from "./components/JobPanel";
import { ModePicker } from "./components/ModePicker";
import { ProgressBar } from "./components/ProgressBar";
import { buildJobRequest } from "./jobRequest";
import { waitForDownloadUrl, watchJob, type JobRef } from "./jobWatch";
import { formatBytes, INITIAL_PROGRESS, mergeProgress, type Progress } from "./progress";

type Upload =
  | { phase: "idle" }
  | { phase: "uploading"; fraction: number }
  | { phase: "done"; key: string }
  | { phase: "error"; message: string; retryable: boolean };

interface Job {
  ref: JobRef;
  progress: Progress;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function App() {
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [upload, setUpload] = useState<Upload>({ phase: "idle" });
  const [points, setPoints] = useState<ClickPoint[]>([]);
  const [mode, setMode] = useState<ProcessingMode>("privacy");
  const [effect, setEffect] = useState<Effect>("blur");
  const [job, setJob] = useState<Job | null>(null);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  const [watchError, setWatchError] = useState<string | null>(null);
  const [resultUrl, setResultUrl] = useState<string | null>(null);
  const [resultError, setResultError] = useState<string | null>(null);
  const uploadHandle = useRef<UploadHandle | null>(null);
  // Bumped on every new upload or reset, so a stale upload's callbacks change nothing.
  const uploadGen = useRef(0);
  const stopWatching = useRef<(() => void) | null>(null);
  // The job on screen; answers about any other (after "start over") are dropped.
  const activeJob = useRef<string | null>(null);
  const jobSection = useRef<HTMLElement>(null);

  // Free the object URL of the previous file.
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);
  useEffect(() => () => stopWatching.current?.(), []);
  const jobId = job?.ref.jobId;
  // Bring the progress into view once a job starts; it appears below the fold.
  useEffect(() => {
    if (jobId) jobSection.current?.scrollIntoView({ behavior: "smooth", block: "start" });
  }, [jobId]);

  const reset = useCallback(() => {
    uploadGen.current += 1;
    uploadHandle.current?.abort();
    uploadHandle.current = null;
    stopWatching.current?.();
    stopWatching.current = null;
    activeJob.current = null;
    setFile(null);
    setPreview(null);
    setUpload({ phase: "idle" });
    setPoints([]);
    setJob(null);
    setStartError(null);
    setWatchError(null);
    setResultUrl(null);
    setResultError(null);
  }, []);

  const startUpload = useCallback(async (f: File) => {
    const gen = ++uploadGen.current;
    const current = () => gen === uploadGen.current;
    setUpload({ phase: "uploading", fraction: 0 });
    try {
      const presign = await presignUpload(f);
      if (!current()) return;
      const handle = uploadFile(presign, f, guessContentType(f), (fraction) => {
        if (current()) setUpload({ phase: "uploading", fraction });
      });
      uploadHandle.current = handle;
      await handle.done;
      if (current()) setUpload({ phase: "done", key: presign.upload_key });
    } catch (err) {
      // A 4xx (wrong type, too big) will fail the same way again; a network error or 5xx may not.
      const status = err instanceof ApiError ? err.status : 0;
      if (current()) setUpload({ phase: "error", message: message(err), retryable: status === 0 || status >= 500 });
    }
  }, []);

  const chooseFile = (f: File) => {
    reset();
    setFile(f);
    setPreview(URL.createObjectURL(f));
    void startUpload(f);
  };

  const onCompleted = useCallback(async (ref: JobRef) => {
    try {
      const url = await waitForDownloadUrl(ref);
      if (activeJob.current === ref.jobId) setResultUrl(url);
    } catch (err) {
      if (activeJob.current === ref.jobId) setResultError(message(err));
    }
  }, []);

  const start = async () => {
    if (upload.phase !== "done") return;
    setStartError(null);
    setStarting(true);
    try {
      const created = await createJob(buildJobRequest(upload.key, points, mode, effect));
      const ref: JobRef = { jobId: created.job_id, token: created.access_token, eventsUrl: created.events_url };
      activeJob.current = ref.jobId;
      setJob({ ref, progress: mergeProgress(INITIAL_PROGRESS, { status: created.status }) });
      stopWatching.current = watchJob(
        ref,
        (update) => {
          setJob((j) => (j && j.ref.jobId === ref.jobId ? { ...j, progress: mergeProgress(j.progress, update) } : j));
          if (update.status === "completed") void onCompleted(ref);
        },
        setWatchError,
      );
    } catch (err) {
      setStartError(message(err));
    } finally {
      setStarting(false);
    }
  };

  const hasPositive = points.some((p) => p.positive !== false);
  const locked = job !== null;
  const canStart = upload.phase === "done" && hasPositive && !starting && !locked;
  // A file the gateway refused outright is not worth clicking on.
  const showSteps = preview !== null && !(upload.phase === "error" && !upload.retryable);

  return (
    <main>
      <header>
        <h1>TapMask</h1>
        <p>Click on something in your video — it is followed through every frame and hidden or erased.</p>
      </header>

      <section className="step">
        <h2>
          <span className="num">1</span> Video
        </h2>
        {!file ? (
          <DropZone onFile={chooseFile} />
        ) : (
          <div className="upload">
            <div className="upload-head">
              <span className="filename" title={file.name}>
                {file.name} <small className="muted">({formatBytes(file.size)})</small>
              </span>
              {!locked && (
                <button type="button" onClick={reset}>
                  Choose another
                </button>
              )}
            </div>
            {upload.phase === "uploading" && (
              <>
                <ProgressBar percent={upload.fraction * 100} label="Upload progress" />
                <small className="muted">Uploading… {Math.floor(upload.fraction * 100)}%</small>
              </>
            )}
            {upload.phase === "done" && (
              <>
                <ProgressBar percent={100} label="Upload progress" tone="done" />
                <small className="muted">Uploaded</small>
              </>
            )}
            {upload.phase === "error" && (
              <p className="error">
                {upload.message}{" "}
                {upload.retryable && (
                  <button type="button" onClick={() => void startUpload(file)}>
                    Retry
                  </button>
                )}
              </p>
            )}
          </div>
        )}
      </section>

      {showSteps && preview && (
        <section className="step">
          <h2>
            <span className="num">2</span> Click on the object
          </h2>
          <p className="hint">
            Click on the object to follow. Shift-click marks a spot that is <em>not</em> the object. Click a marker to
            remove it.
          </p>
          <FramePicker src={preview} points={points} onPointsChange={setPoints} disabled={locked} />
        </section>
      )}

      {showSteps && (
        <section className="step">
          <h2>
            <span className="num">3</span> Choose what to do
          </h2>
          <ModePicker
            mode={mode}
            effect={effect}
            disabled={locked}
            onChange={(m, e) => {
              setMode(m);
              setEffect(e);
            }}
          />
          {!locked && (
            <div className="start">
              <button type="button" className="primary" disabled={!canStart} onClick={() => void start()}>
                {starting ? "Starting…" : "Start"}
              </button>
              <small className="muted">
                {upload.phase === "uploading"
                  ? "Waiting for the upload to finish…"
                  : !hasPositive
                    ? "Click on the object first."
                    : ""}
              </small>
            </div>
          )}
          {startError && <p className="error">{startError}</p>}
        </section>
      )}

      {job && (
        <section className="step" ref={jobSection}>
          <h2>
            <span className="num">4</span> Progress
          </h2>
          <JobPanel jobId={job.ref.jobId} progress={job.progress} watchError={watchError} />
          {resultError && <p className="error">{resultError}</p>}
          {resultUrl && (
            <div className="result">
              <video src={resultUrl} controls playsInline />
              <div className="buttons">
                <a className="button primary" href={resultUrl} download>
                  Download
                </a>
                <button type="button" onClick={reset}>
                  Process another video
                </button>
              </div>
            </div>
          )}
          {(job.progress.status === "failed" || job.progress.status === "expired" || watchError) && (
            <button type="button" onClick={reset}>
              Start over
            </button>
          )}
        </section>
      )}
    </main>
  );
}
