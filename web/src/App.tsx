import { useCallback, useEffect, useRef } from "react";
import {
  ApiError,
  cancelJob,
  createJob,
  getJob,
  getOriginalUrl,
  getUploadLimits,
  getUploadVideo,
  pauseJob,
  presignUpload,
  renderAgain,
  rerunJob,
  uploadFile,
  type Effect,
  type JobView,
  type ProcessingMode,
  type UploadHandle,
} from "./api";
import { DropZone } from "./components/DropZone";
import { FrameEditor } from "./components/FrameEditor";
import { ModePicker } from "./components/ModePicker";
import { ProgressBar } from "./components/ProgressBar";
import { ResultView, type ReviewRange } from "./components/ResultView";
import { RunningJob } from "./components/RunningJob";
import { Step } from "./components/Step";
import { forgetJob, jobFragment, parseJobFragment, rememberedJob, rememberJob, type JobLink } from "./jobLink";
import { waitForDownloadUrl, watchJob, type JobRef } from "./jobWatch";
import { isMarked, jobPoints, jobRequest } from "./objects";
import { loadSession, saveSession } from "./session";
import { plainError } from "./plainWords";
import { formatBytes, fromJobView, INITIAL_PROGRESS, isFinal, mergeProgress, type Progress } from "./progress";
import { readHead, uploadProblem } from "./sniff";
import { resetForNewVideo, useField } from "./store";


function message(err: unknown): string {
  return plainError(err);
}

function isCompleted(job: { progress: Progress } | null): boolean {
  return job?.progress.status === "completed";
}

function refOf(link: JobLink): JobRef {
  return { jobId: link.jobId, token: link.token, eventsUrl: `/api/jobs/${link.jobId}/events?token=${encodeURIComponent(link.token)}` };
}

export function App() {
  const [limits, setLimits] = useField("limits");
  const [file, setFile] = useField("file");
  const [original, setOriginal] = useField("original");
  const [refused, setRefused] = useField("refused");
  const [upload, setUpload] = useField("upload");
  const [video, setVideo] = useField("video");
  const [videoError, setVideoError] = useField("videoError");
  const [objects, setObjects] = useField("objects");
  const [activeKey, setActiveKey] = useField("activeKey");
  const [frame, setFrame] = useField("frame");
  const [mode, setMode] = useField("mode");
  const [effect, setEffect] = useField("effect");
  const [hideFaces, setHideFaces] = useField("hideFaces");
  // Rendering waits until the person accepts the tracked outline (else it starts by itself).
  const [checkFirst, setCheckFirst] = useField("checkFirst");
  // The clicks the running job tracks with (to tell when the person changed them).
  const [sentPoints, setSentPoints] = useField("sentPoints");
  const [, setLiveError] = useField("liveError");
  const [fileName, setFileName] = useField("fileName");
  const [job, setJob] = useField("job");
  const [starting, setStarting] = useField("starting");
  const [startError, setStartError] = useField("startError");
  const [watchError, setWatchError] = useField("watchError");
  const [resultUrl, setResultUrl] = useField("resultUrl");
  const [resultError, setResultError] = useField("resultError");
  const [review, setReview] = useField("review");
  // The job's frame count as the gateway probed it (this tab may not have the upload: a reload).
  const [jobFrames, setJobFrames] = useField("jobFrames");
  const [lastJob, setLastJob] = useField("lastJob");
  // The original from the server, when this tab no longer has the file (after a reload).
  const [serverOriginal, setServerOriginal] = useField("serverOriginal");
  // Set while the clicks of a finished job are being corrected: Start re-runs that job.
  const [correcting, setCorrecting] = useField("correcting");
  const uploadHandle = useRef<UploadHandle | null>(null);
  // Bumped on every new upload or reset, so a stale upload's callbacks change nothing.
  const uploadGen = useRef(0);
  const stopWatching = useRef<(() => void) | null>(null);
  // The job on screen; answers about any other (after "start over") are dropped.
  const activeJob = useRef<string | null>(null);
  const jobSection = useRef<HTMLElement>(null);

  useEffect(() => () => void (original && URL.revokeObjectURL(original)), [original]);
  useEffect(() => () => stopWatching.current?.(), []);
  useEffect(() => {
    getUploadLimits()
      .then((l) => setLimits({ maxUploadBytes: l.max_upload_bytes, maxDurationS: l.max_duration_s }))
      .catch(() => undefined); // the defaults are the gateway's defaults
  }, []);

  // Leaving during an upload loses it: the browser asks first.
  const uploading = upload.phase === "uploading";
  useEffect(() => {
    if (!uploading) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [uploading]);

  const jobId = job?.ref.jobId;
  useEffect(() => {
    if (!jobId) return;
    jobSection.current?.scrollIntoView({ behavior: "smooth", block: "start" });
    // The focus follows: to the job's heading once started, to Download once done.
    const target = resultUrl
      ? jobSection.current?.querySelector<HTMLElement>("a.button.primary")
      : jobSection.current?.querySelector<HTMLElement>("h2");
    target?.focus({ preventScroll: true });
  }, [jobId, resultUrl]);

  // On a phone the frame is below the upload: bring it into view once it can be clicked.
  useEffect(() => {
    if (video && window.innerWidth < 600) document.querySelector(".frame-editor")?.scrollIntoView({ block: "start" });
  }, [video]);

  const onCompleted = useCallback(async (ref: JobRef) => {
    try {
      const url = await waitForDownloadUrl(ref);
      if (activeJob.current === ref.jobId) setResultUrl(url);
      getOriginalUrl(ref.jobId, ref.token)
        .then((o) => activeJob.current === ref.jobId && setServerOriginal(o.url))
        .catch(() => undefined); // before/after is a nicety: the result stands alone
      // The frames to check are a nicety too: a failure here leaves the result shown.
      const view = await getJob(ref.jobId, ref.token).catch(() => null);
      if (view && activeJob.current === ref.jobId) {
        setReview((view.review as ReviewRange[] | null | undefined) ?? null);
        setJobFrames(Number((view.video as { frame_count?: number } | undefined)?.frame_count ?? 0) || 0);
      }
    } catch (err) {
      if (activeJob.current === ref.jobId) setResultError(message(err));
    }
  }, []);

  const follow = useCallback(
    (ref: JobRef, initial: Partial<Progress>) => {
      activeJob.current = ref.jobId;
      setJob({ ref, progress: mergeProgress(INITIAL_PROGRESS, initial) });
      if (initial.status === "completed") {
        void onCompleted(ref);
        return;
      }
      if (initial.status && isFinal(initial.status)) return;
      stopWatching.current = watchJob(
        ref,
        (update) => {
          setJob((j) => (j && j.ref.jobId === ref.jobId ? { ...j, progress: mergeProgress(j.progress, update) } : j));
          if (update.status === "completed") void onCompleted(ref);
        },
        (m) => setWatchError(plainError(m)),
      );
    },
    [onCompleted],
  );

  const resume = useCallback(
    async (link: JobLink) => {
      // What this browser kept of the job: its upload, video and clicks ("fix and run again").
      const session = loadSession(link.jobId);
      if (session) {
        setUpload({ phase: "done", key: session.uploadKey });
        setVideo(session.video);
        setObjects(session.objects);
        setActiveKey(session.objects[0]?.key ?? 0);
        setMode(session.mode);
        setEffect(session.effect);
        setFileName(session.fileName ?? null);
        if (session.objects.some(isMarked)) setSentPoints(JSON.stringify(jobPoints(session.objects)));
      }
      try {
        const view: JobView = await getJob(link.jobId, link.token);
        follow(refOf(link), fromJobView(view));
      } catch (err) {
        activeJob.current = link.jobId;
        setJob({ ref: refOf(link), progress: INITIAL_PROGRESS });
        setWatchError(
          err instanceof ApiError && err.status === 404
            ? "This job link does not work: the job does not exist or its files were deleted. Start a new one below."
            : message(err),
        );
      }
    },
    [follow],
  );

  // A job in the URL (a reload, a shared or reopened tab) comes back as it is now.
  useEffect(() => {
    const link = parseJobFragment(window.location.hash);
    if (link) void resume(link);
    else setLastJob(rememberedJob());
  }, [resume]);

  const reset = useCallback(() => {
    uploadGen.current += 1;
    uploadHandle.current?.abort();
    uploadHandle.current = null;
    stopWatching.current?.();
    stopWatching.current = null;
    activeJob.current = null;
    resetForNewVideo();
    if (window.location.hash) window.history.pushState(null, "", window.location.pathname);
    forgetJob();
  }, []);

  const startUpload = useCallback(async (f: File) => {
    const gen = ++uploadGen.current;
    const current = () => gen === uploadGen.current;
    setUpload({ phase: "uploading", fraction: 0 });
    try {
      const presign = await presignUpload(f);
      if (!current()) return;
      const handle = uploadFile(presign, f, (fraction) => {
        if (current()) setUpload({ phase: "uploading", fraction });
      });
      uploadHandle.current = handle;
      await handle.done;
      if (!current()) return;
      setUpload({ phase: "done", key: presign.upload_key });
      try {
        const facts = await getUploadVideo(presign.upload_key);
        if (current()) setVideo(facts);
      } catch (err) {
        if (current()) setVideoError(message(err));
      }
    } catch (err) {
      // A 4xx (wrong type, too big) will fail the same way again; a network error or 5xx may not.
      const status = err instanceof ApiError ? err.status : 0;
      if (current()) setUpload({ phase: "error", message: message(err), retryable: status === 0 || status >= 500 });
    }
  }, []);

  const chooseFile = async (f: File) => {
    reset();
    const problem = uploadProblem(f, await readHead(f), limits);
    if (problem) {
      setRefused(problem);
      return;
    }
    setFile(f);
    setFileName(f.name);
    setOriginal(URL.createObjectURL(f));
    void startUpload(f);
  };

  const start = async () => {
    if (upload.phase !== "done") return;
    setStartError(null);
    setStarting(true);
    try {
      const faces = hideFaces && mode === "privacy";
      const created =
        faces && !hasPositive && !correcting
          ? await createJob({ upload_key: upload.key, processing_mode: "privacy", effect, auto_faces: true })
          : await (async () => {
              const request = { ...jobRequest(upload.key, objects, mode, effect), ...(faces ? { auto_faces: true } : {}) };
              return correcting
                ? rerunJob(correcting.jobId, correcting.token, request)
                : createJob(request);
            })();
      setCorrecting(null);
      const link = { jobId: created.job_id, token: created.access_token };
      // First of all, before the tracker can finish: hold the rendering for the person's OK.
      if (checkFirst && hasPositive) {
        await pauseJob(link.jobId, link.token, true).catch((err: unknown) => setLiveError(message(err)));
      }
      setSentPoints(hasPositive ? JSON.stringify(jobPoints(objects)) : null);
      if (video) saveSession(link.jobId, { uploadKey: upload.key, video, objects, mode, effect, fileName: file?.name ?? fileName ?? undefined });
      window.history.pushState(null, "", jobFragment(link));
      rememberJob(link);
      follow({ jobId: link.jobId, token: link.token, eventsUrl: created.events_url }, { status: created.status });
    } catch (err) {
      setStartError(message(err));
    } finally {
      setStarting(false);
    }
  };

  const hasPositive = objects.some(isMarked);
  const locked = job !== null;
  const facesOnly = hideFaces && mode === "privacy" && !correcting;
  const canStart = upload.phase === "done" && video !== null && (hasPositive || facesOnly) && !starting && !locked;
  // An upload this tab made, or one a reload brought back from this browser's session.
  const showSteps = (file !== null || upload.phase === "done") && !(upload.phase === "error" && !upload.retryable);

  /** A new job from this one's result: the job on screen becomes the new one. */
  const switchTo = (created: { job_id: string; access_token: string; events_url: string; status: JobView["status"] }) => {
    stopWatching.current?.();
    const link = { jobId: created.job_id, token: created.access_token };
    if (upload.phase === "done" && video) {
      saveSession(link.jobId, { uploadKey: upload.key, video, objects, mode, effect, fileName: fileName ?? undefined });
    }
    window.history.pushState(null, "", jobFragment(link));
    rememberJob(link);
    setResultUrl(null);
    setResultError(null);
    setReview(null);
    setWatchError(null);
    follow({ jobId: link.jobId, token: link.token, eventsUrl: created.events_url }, { status: created.status });
  };

  const cancel = async () => {
    if (!job) return;
    const ref = job.ref;
    try {
      await cancelJob(ref.jobId, ref.token);
      stopWatching.current?.();
      setJob((j) => (j && j.ref.jobId === ref.jobId ? { ...j, progress: mergeProgress(j.progress, { status: "cancelled" }) } : j));
    } catch (err) {
      // Finished in the meantime: the stream brings the final state.
      if (!(err instanceof ApiError && err.status === 409)) setWatchError(message(err));
    }
  };

  const onRenderAgain = async (m: ProcessingMode, e: Effect) => {
    if (!job) return;
    try {
      switchTo(await renderAgain(job.ref.jobId, job.ref.token, m, e));
    } catch (err) {
      setResultError(message(err));
    }
  };

  // Back to the frames with the same clicks; Start then re-runs the finished job.
  const canCorrect =
    (isCompleted(job) || job?.progress.status === "cancelled" || job?.progress.status === "failed") &&
    upload.phase === "done" &&
    video !== null &&
    objects.some(isMarked);
  const correct = () => {
    if (!job) return;
    stopWatching.current?.();
    setCorrecting({ jobId: job.ref.jobId, token: job.ref.token });
    activeJob.current = null;
    setJob(null);
    setResultUrl(null);
    setReview(null);
  };
  const completed = job?.progress.status === "completed";
  const running = job !== null && !isFinal(job.progress.status);

  const jobPanel = job && (
    <section className="step" ref={jobSection} aria-labelledby="job-title">
      <h2 id="job-title" tabIndex={-1}>
        {completed ? "Your video" : "Progress"}
      </h2>
      {resultUrl && (
        <ResultView
          resultUrl={resultUrl}
          originalUrl={original ?? serverOriginal}
          review={review}
          frameCount={jobFrames || Number((video?.frame_count ?? 0) || 0)}
          onAnother={reset}
          onRenderAgain={(m, e) => void onRenderAgain(m, e)}
          onCorrect={canCorrect ? correct : null}
          facesOnly={sentPoints === null && !objects.some(isMarked)}
        />
      )}
      <RunningJob job={job} showProgress={!resultUrl} watchError={watchError} onCancel={() => void cancel()} />
      {resultError && <p className="error">{resultError}</p>}
      {running && (
        <p className="muted">
          You can close this page: this address brings you back to the job (keep it to come back later).
        </p>
      )}
      {(job.progress.status === "failed" || job.progress.status === "cancelled") && canCorrect && (
        <button type="button" className="primary" onClick={correct}>
          Change the clicks and start again
        </button>
      )}
      {(job.progress.status === "failed" || job.progress.status === "expired" || job.progress.status === "cancelled" || watchError) && (
        <button type="button" onClick={reset}>
          Start over with another video
        </button>
      )}
    </section>
  );

  return (
    <main>
      <header>
        <h1>TapMask</h1>
        <p>Click on something in your video — it is followed through every frame and hidden or erased.</p>
      </header>

      {completed && jobPanel}

      {!job && lastJob && (
        <p className="notice">
          You have a job from earlier.{" "}
          <button
            type="button"
            onClick={() => {
              window.history.pushState(null, "", jobFragment(lastJob));
              void resume(lastJob);
            }}
          >
            Return to it
          </button>
        </p>
      )}

      {!job && (
        <Step num={1} title="Video">
          {!file && upload.phase !== "done" ? (
            <>
              <DropZone onFile={(f) => void chooseFile(f)} limits={limits} />
              {refused && (
                <p className="error" role="alert">
                  {refused}
                </p>
              )}
            </>
          ) : (
            <div className="upload">
              <div className="upload-head">
                <span className="filename" title={file?.name ?? fileName ?? ""}>
                  {file?.name ?? fileName ?? "Your video"} {file && <small className="muted">({formatBytes(file.size)})</small>}
                </span>
                <button type="button" onClick={reset}>
                  Choose another
                </button>
              </div>
              {upload.phase === "uploading" && (
                <>
                  <ProgressBar percent={upload.fraction * 100} label="Upload progress" />
                  <small className="muted">Uploading… {Math.floor(upload.fraction * 100)}% — keep this page open.</small>
                </>
              )}
              {upload.phase === "done" && !video && !videoError && <small className="muted">Uploaded. Reading the video…</small>}
              {upload.phase === "done" && video && (
                <small className="muted">
                  Uploaded: {video.display_width}×{video.display_height}, {video.frame_count} frames,{" "}
                  {Math.round(video.duration_s * 10) / 10} s
                </small>
              )}
              {videoError && (
                <p className="error" role="alert">
                  {videoError}
                </p>
              )}
              {upload.phase === "error" && (
                <p className="error" role="alert">
                  {upload.message}{" "}
                  {upload.retryable && (
                    <button type="button" onClick={() => file && void startUpload(file)}>
                      Retry
                    </button>
                  )}
                </p>
              )}
            </div>
          )}
        </Step>
      )}

      {showSteps && !job && (
        <Step num={2} title="Click on the object">
          {upload.phase === "done" && video ? (
            <>
              <p className="hint">
                Click or tap the object: its outline appears in colour. Wrong part taken? Switch to <em>Not this</em> and
                click there. Any frame works — move the slider to where the object is clearly visible.
              </p>
              <FrameEditor
                uploadKey={upload.key}
                video={video}
                objects={objects}
                onObjectsChange={setObjects}
                activeKey={activeKey}
                onActiveChange={setActiveKey}
                frame={frame}
                onFrameChange={setFrame}
                disabled={locked}
              />
            </>
          ) : (
            <p className="muted">{videoError ? "This file cannot be used." : "The frames appear here once the upload is done."}</p>
          )}
        </Step>
      )}

      {showSteps && !job && (
        <Step num={3} title="Choose what to do">
          <ModePicker
            mode={mode}
            effect={effect}
            disabled={locked}
            onChange={(m, e) => {
              setMode(m);
              setEffect(e);
            }}
          />
          {mode === "privacy" && (
            <label className="faces">
              <input
                type="checkbox"
                checked={hideFaces}
                disabled={locked}
                onChange={(ev) => setHideFaces(ev.target.checked)}
              />{" "}
              Hide all faces (found automatically, no click needed)
            </label>
          )}
          <label className="check-first">
            <input type="checkbox" checked={checkFirst} onChange={(ev) => setCheckFirst(ev.target.checked)} /> Let me check the
            outline before the video is rendered
          </label>
          <div className="start">
            <button type="button" className="primary" disabled={!canStart} onClick={() => void start()}>
              {starting ? "Starting…" : correcting ? "Run again" : "Start"}
            </button>
            <small className="muted">
              {upload.phase === "uploading"
                ? "Waiting for the upload to finish…"
                : !hasPositive && !facesOnly
                  ? "Click on the object first (or hide all faces)."
                  : ""}
            </small>
          </div>
          {startError && (
            <p className="error" role="alert">
              {startError}
            </p>
          )}
        </Step>
      )}

      {!completed && jobPanel}
    </main>
  );
}
