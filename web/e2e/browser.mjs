// The web app in a real headless Chromium (Debian's `chromium`, driven by playwright-core with
// executablePath: no browser download), as a person uses it. tests/e2e/test_web_browser.py
// starts the system the way `make up` does, runs one scenario here and checks what it reports
// (and the downloaded video) in Python.
//
//   node web/e2e/browser.mjs SCENARIO --base URL --out DIR [--file PATH] [--click X,Y] [--frame N]
//                            [--effect Blur|Pixelate|"Solid fill"]
//
// Prints one JSON line with what the scenario saw; writes a screenshot of each step to DIR.
// Exits 1 with the reason on stderr when a step fails.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: "string" },
    out: { type: "string" },
    file: { type: "string", multiple: true },
    click: { type: "string" },
    frame: { type: "string" },
    probe: { type: "string", multiple: true },
    later: { type: "string" },
    second: { type: "string" },
    review: { type: "string" },
    check: { type: "string" },
    effect: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM ?? "/usr/bin/chromium" },
  },
});
const scenario = positionals[0];
const base = values.base;
const out = values.out;
mkdirSync(out, { recursive: true });
const files = values.file ?? [];
const click = values.click ? values.click.split(",").map(Number) : null;
const frame = values.frame ? Number(values.frame) : 0;
const JOB_TIMEOUT = 300_000;
const MASK_TIMEOUT = 90_000;

const report = { scenario, screenshots: [], requests: [] };
let shot = 0;

async function snap(page, name) {
  const path = join(out, `${String(++shot).padStart(2, "0")}-${scenario}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  report.screenshots.push(path);
}

/** The frame editor's canvas and where frame pixel (x, y) is on the page. */
async function framePoint(page, x, y) {
  const canvas = page.locator(".frame-box canvas");
  let box = await canvas.boundingBox();
  // The point in view first (a person scrolls to what they tap): the page only, never the
  // frame's own zoom scroller.
  const at = box.y + (y / report.video.display_height) * box.height;
  const height = page.viewportSize().height;
  if (at < 10 || at > height - 10) {
    await page.evaluate((dy) => window.scrollBy(0, dy), at - height / 2);
    box = await canvas.boundingBox();
  }
  const size = await page.evaluate(() => {
    const label = document.querySelector(".frame-no")?.textContent ?? "";
    return label;
  });
  const video = report.video;
  return { x: box.x + (x / video.display_width) * box.width, y: box.y + (y / video.display_height) * box.height, size };
}

/** The overlay's colour and opacity at frame pixel (x, y) (what a person sees drawn there). */
async function overlayAt(page, x, y) {
  return page.evaluate(
    ([fx, fy, w, h]) => {
      const c = document.querySelector(".frame-box canvas");
      const ctx = c.getContext("2d");
      const px = Math.floor((fx / w) * c.width);
      const py = Math.floor((fy / h) * c.height);
      const d = ctx.getImageData(px, py, 1, 1).data;
      return { r: d[0], g: d[1], b: d[2], a: d[3] };
    },
    [x, y, report.video.display_width, report.video.display_height],
  );
}

/**
 * How many pixels of the overlay's column through the frame's middle are drawn on: the
 * keyboard crosshair starts there (its vertical line runs the frame's whole height); no
 * marker or mask of these scenarios is there.
 */
async function crosshairPixels(page) {
  await page.waitForTimeout(300); // the next paint
  return page.evaluate(() => {
    const c = document.querySelector(".frame-box canvas");
    const d = c.getContext("2d").getImageData(Math.floor(c.width / 2), 0, 1, c.height).data;
    let drawn = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) drawn += 1;
    return drawn;
  });
}

/** The overlay at each `--probe name=x,y` (frame pixels), into report.probes. */
async function probeOverlay(page) {
  report.probes = {};
  for (const spec of values.probe ?? []) {
    const [name, xy] = spec.split("=");
    const [x, y] = xy.split(",").map(Number);
    report.probes[name] = await overlayAt(page, x, y);
  }
}

async function uploadThroughInput(page, file) {
  await page.locator('input[type="file"]').setInputFiles(file);
}

async function waitForVideoFacts(page) {
  const response = await page.waitForResponse((r) => r.url().includes("/api/upload/video"), { timeout: 120_000 });
  if (!response.ok()) throw new Error(`GET /api/upload/video answered ${response.status()}: ${await response.text()}`);
  report.video = await response.json();
}

async function waitForFrame(page, index) {
  await page.locator(`.frame-box img[alt="Frame ${index + 1} of ${report.video.frame_count}"]`).waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => {
    const img = document.querySelector(".frame-box img");
    return img && img.complete && img.naturalWidth > 0 && !document.querySelector(".frame-box .frame-note");
  }, null, { timeout: 60_000 });
}

async function waitForMask(page, objectIndex = 0) {
  const item = page.locator(".objects li").nth(objectIndex).locator("[data-mask-pixels]");
  await item.waitFor({ timeout: MASK_TIMEOUT });
  return Number(await item.getAttribute("data-mask-pixels"));
}

function recordRequests(page) {
  page.on("request", (r) => {
    if (!r.url().includes("/api/")) return;
    const entry = { method: r.method(), path: new URL(r.url()).pathname };
    if (r.method() === "POST" && entry.path.startsWith("/api/jobs")) entry.body = r.postDataJSON();
    if (r.method() === "POST" && entry.path === "/api/upload/mask") entry.points = r.postDataJSON().points;
    report.requests.push(entry);
  });
}

/**
 * The result's Download link. The job waits for the person's OK on the tracked outline
 * (the default "let me check the outline first"): "Looks right: render it" is pressed
 * whenever the page asks for it.
 */
async function waitForResult(page) {
  const download = page.getByRole("link", { name: "Download" });
  const accept = page.getByRole("button", { name: "Looks right: render it" });
  const deadline = Date.now() + JOB_TIMEOUT;
  for (;;) {
    await download.or(accept).first().waitFor({ timeout: Math.max(1, deadline - Date.now()) });
    if (await download.count()) return download;
    report.accepted = (report.accepted ?? 0) + 1;
    await snap(page, "outline-ready");
    await accept.click();
    await accept.waitFor({ state: "detached", timeout: 30_000 });
  }
}

/** The live view's state (starting, tracking, paused, ready, accepted, rendering). */
function liveState(page) {
  return page.evaluate(() => document.querySelector("[data-live-state]")?.getAttribute("data-live-state") ?? null);
}

/** Drawn overlay pixels: all, and those of a click's outline in `colour` (the tracker's are lighter). */
async function overlayPixels(page, colour = [0, 114, 178]) {
  return page.evaluate((rgb) => {
    const c = document.querySelector(".frame-box canvas");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let drawn = 0;
    let clicked = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] === 0) continue;
      drawn += 1;
      const near = Math.abs(d[i] - rgb[0]) < 30 && Math.abs(d[i + 1] - rgb[1]) < 30 && Math.abs(d[i + 2] - rgb[2]) < 30;
      if (near && d[i + 3] >= 120 && d[i + 3] <= 160) clicked += 1;
    }
    return { drawn, clicked };
  }, colour);
}

/** Tap targets under 44 px (a radio or checkbox counts as its label), as "what WxH". */
async function smallTargets(page) {
  return page.evaluate(() => {
    const small = [];
    for (const el of document.querySelectorAll("button, a[href], input, select, [role=slider]")) {
      if (el.type === "file" || el.closest(".sr-only")) continue;
      const target = el.type === "radio" || el.type === "checkbox" ? (el.closest("label") ?? el) : el;
      const r = target.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // not shown
      if (r.height < 44 || r.width < 44) {
        const name = (el.getAttribute("aria-label") || el.textContent || el.type || "").trim().slice(0, 40);
        small.push(`${el.tagName.toLowerCase()} "${name}" ${Math.round(r.width)}x${Math.round(r.height)}`);
      }
    }
    return small;
  });
}

/** The page's width and its small tap targets now, under `name` in report.fit. */
async function fit(page, name) {
  (report.fit ??= {})[name] = {
    page_width: await page.evaluate(() => document.documentElement.scrollWidth),
    small_targets: await smallTargets(page),
  };
}

async function startAndFollow(page, { reload = false } = {}) {
  await page.getByRole("button", { name: "Start" }).click();
  await page.waitForFunction(() => window.location.hash.startsWith("#job="), null, { timeout: 60_000 });
  report.hash_has_token = /token=/.test(await page.evaluate(() => window.location.hash));
  report.job_id = new URLSearchParams((await page.evaluate(() => window.location.hash)).slice(1)).get("job");
  await page.getByText(`Job ${report.job_id}`).waitFor({ timeout: 30_000 });
  await snap(page, "job-started");
  if (reload) {
    // Mid-job, held deterministically: the job waits for the person's OK on the outline
    // once tracked (issue 18 item 7: no race with the job's speed).
    await page.waitForFunction(() => document.querySelector("[data-live-state]")?.getAttribute("data-live-state") === "ready", null, {
      timeout: JOB_TIMEOUT,
    });
    const before = await page.locator(".job-head span").textContent().catch(() => null);
    const runningBefore = (await page.getByRole("link", { name: "Download" }).count()) === 0;
    await page.reload();
    const progress = page.locator(".job").getByText(`Job ${report.job_id}`);
    const result = page.getByRole("link", { name: "Download" });
    await progress.or(result).first().waitFor({ timeout: 30_000 }).catch(() => undefined);
    report.after_reload = {
      running_before: runningBefore,
      hash_job: new URLSearchParams((await page.evaluate(() => window.location.hash)).slice(1)).get("job"),
      // The live progress of that job (or, had it just finished, its result).
      shown: (await progress.count()) > 0 ? "progress" : (await result.count()) > 0 ? "result" : "nothing",
      percent_before: before,
      percent_after: await page.locator(".job-head span").textContent().catch(() => null),
    };
    // The held job comes back held: its outline to check, and the OK still to give.
    await page
      .waitForFunction(() => document.querySelector("[data-live-state]")?.getAttribute("data-live-state") === "ready", null, { timeout: 30_000 })
      .catch(() => undefined);
    report.after_reload.live_state = await liveState(page);
    await snap(page, "reloaded-mid-job");
    // Then the connection drops for a few seconds (a train's tunnel): the page carries on
    // to the result by itself, no reload.
    report.after_reload.running_when_offline = (await page.getByRole("link", { name: "Download" }).count()) === 0;
    await page.context().setOffline(true);
    await page.waitForTimeout(5000);
    await page.context().setOffline(false);
    report.after_reload.running_after_offline = (await page.getByRole("link", { name: "Download" }).count()) === 0;
  }
  const download = await waitForResult(page);
  await page.waitForTimeout(500); // the smooth scroll to the result
  report.download_url = await download.getAttribute("href");
  const box = await download.boundingBox();
  const viewport = page.viewportSize();
  report.download_in_view = box !== null && box.y >= 0 && box.y + box.height <= viewport.height;
  const result = await page.locator(".compare video").last().boundingBox();
  report.result_in_view = result !== null && result.y < viewport.height && result.y + result.height > 0;
  report.before_after = await page.locator(".compare figure").count();
  report.fix_offered = await page.getByRole("button", { name: "Fix the outline and run again" }).count();
  await snap(page, "result");
}

const scenarios = {
  /** Upload the cups clip, click the ball, see its mask, blur it, reload mid-job, get the result. */
  async cups(page) {
    recordRequests(page);
    if (values.review) {
      // The frames to check, as the gateway says them for a job where the tracker was unsure
      // (this clip has none): added to the finished job's view.
      const [start, end] = values.review.split(",").map(Number);
      await page.route(/\/api\/jobs\/[0-9a-f-]{36}$/, async (route) => {
        const response = await route.fetch();
        const view = await response.json();
        if (view.status === "completed") view.review = [{ start_frame: start, end_frame: end, reason: "object lost; mask held and widened" }];
        await route.fulfill({ response, json: view });
      });
    }
    await page.goto(base);
    report.dropzone_text = await page.locator(".dropzone").textContent();
    await snap(page, "start");
    await uploadThroughInput(page, files[0]);
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    await snap(page, "frame");
    const at = await framePoint(page, click[0], click[1]);
    await page.mouse.click(at.x, at.y);
    report.mask_pixels = await waitForMask(page);
    await probeOverlay(page);
    await snap(page, "mask");
    await startAndFollow(page, { reload: true });
    if (values.review) {
      // The frames to check on the timeline, at their place; a click stops the result there.
      const bar = await page.locator(".review-bar").boundingBox();
      const mark = await page.locator(".review-bar span").first().boundingBox();
      const item = page.locator(".review li").first();
      await item.getByRole("button").and(page.locator(":enabled")).waitFor({ timeout: 30_000 });
      report.review = {
        mark_from: (mark.x - bar.x) / bar.width,
        mark_width: mark.width / bar.width,
        listed: await item.textContent(),
      };
      await item.getByRole("button").click();
      await page.waitForTimeout(1000);
      report.review.after_time = await page.evaluate(() => {
        const v = document.querySelector(".compare figure:last-child video");
        return { time: v.currentTime, paused: v.paused, duration: v.duration };
      });
      await snap(page, "review-frames");
    }
    // Track once, render many: the same outline pixelated, without tracking again.
    const first = report.download_url;
    await page.getByRole("group", { name: "Render again with the same outline" }).getByRole("button", { name: "Pixelate" }).click();
    await page.waitForFunction((old) => !window.location.hash.includes(old), report.job_id, { timeout: 30_000 });
    const download = page.getByRole("link", { name: "Download" });
    await download.waitFor({ timeout: JOB_TIMEOUT });
    report.render_again = {
      job_id: new URLSearchParams((await page.evaluate(() => window.location.hash)).slice(1)).get("job"),
      download_url: await download.getAttribute("href"),
    };
    report.render_again.new_result = report.render_again.download_url !== first;
    await snap(page, "rendered-again");
  },

  /**
   * The live tracking view: the outline on the frames tracked so far while the job runs;
   * pause, a correction on a later frame (its outline loading with no other frame's mask
   * drawn), track again, check, accept, the result.
   */
  async live(page) {
    recordRequests(page);
    await page.goto(base);
    await uploadThroughInput(page, files[0]);
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    const at = await framePoint(page, click[0], click[1]);
    await page.mouse.click(at.x, at.y);
    report.mask_pixels = await waitForMask(page);
    report.check_first = await page.getByRole("checkbox", { name: /check the\s+outline before/ }).isChecked();
    await page.getByRole("button", { name: "Start" }).click();
    await page.waitForFunction(() => window.location.hash.startsWith("#job="), null, { timeout: 60_000 });
    const hash = new URLSearchParams((await page.evaluate(() => window.location.hash)).slice(1));
    report.job_id = hash.get("job");
    report.token = hash.get("token");
    // Outlines of tracked frames, while the job runs (it waits for the OK at the end).
    await page.waitForFunction(() => Number(document.querySelector(".live .frame-box")?.getAttribute("data-tracked-count") ?? 0) > 0, null, {
      timeout: JOB_TIMEOUT,
    });
    report.tracked_while_running = {
      count: Number(await page.locator(".live .frame-box").getAttribute("data-tracked-count")),
      download: await page.getByRole("link", { name: "Download" }).count(),
      state: await liveState(page),
    };
    await snap(page, "live-tracking");
    // Pause (still tracking: it stops at the next frame; done: it waits for the OK anyway).
    const pause = page.getByRole("button", { name: "Pause" });
    if (await pause.count()) await pause.click().catch(() => undefined);
    await page.waitForFunction(() => ["paused", "ready"].includes(document.querySelector("[data-live-state]")?.getAttribute("data-live-state")), null, {
      timeout: JOB_TIMEOUT,
    });
    report.paused_state = await liveState(page);
    const slider = page.locator(".live").getByRole("slider", { name: "Frame" });
    // A tracked frame shows the tracker's outline there.
    const seen = Number(values.frame || 10);
    await slider.fill(String(seen));
    await waitForFrame(page, seen);
    await page.waitForFunction((f) => document.querySelector(".live .frame-box")?.getAttribute("data-tracked-outline") === String(f), seen, {
      timeout: 30_000,
    });
    await page.waitForTimeout(300);
    report.tracked_frame = { frame: seen, ...(await overlayPixels(page)) };
    await snap(page, "tracked-outline");
    // A correction on a later frame: while its outline loads (held back here), no mask of
    // another frame is drawn over it, and the row says it is loading.
    const [cf, cx, cy] = values.later.split(",").map(Number);
    await slider.fill(String(cf));
    await waitForFrame(page, cf);
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await page.route("**/api/upload/mask", async (route) => {
      await held;
      await route.continue();
    });
    const spot = await framePoint(page, cx, cy);
    await page.mouse.click(spot.x, spot.y);
    await page.waitForTimeout(2500);
    report.while_loading = { ...(await overlayPixels(page)), row: await page.locator(".live .objects li").first().textContent() };
    await snap(page, "correction-loading");
    release();
    report.correction_mask_pixels = await waitForMask(page);
    await page.unroute("**/api/upload/mask");
    report.after_loading = await overlayPixels(page);
    await snap(page, "correction-outlined");
    await page.getByRole("button", { name: "Track again with my changes" }).click();
    // Tracked again with both clicks, held again for the OK: the outline there now.
    await page.waitForFunction(
      () =>
        document.querySelector(".live")?.getAttribute("data-revision") === "1" &&
        document.querySelector("[data-live-state]")?.getAttribute("data-live-state") === "ready",
      null,
      { timeout: JOB_TIMEOUT },
    );
    const check = Number(values.check || cf + 5);
    await slider.fill(String(check));
    await waitForFrame(page, check);
    await page
      .waitForFunction((f) => document.querySelector(".live .frame-box")?.getAttribute("data-tracked-outline") === String(f), check, { timeout: 30_000 })
      .catch(() => undefined);
    await page.waitForTimeout(300);
    report.retracked = { frame: check, at_correction: await overlayAt(page, cx, cy), ...(await overlayPixels(page)) };
    await snap(page, "retracked-outline");
    const download = await waitForResult(page);
    report.download_url = await download.getAttribute("href");
    await snap(page, "live-result");
  },

  /** A later frame of the dog clip: scrub there, click, and the click carries its frame. */
  async later(page) {
    recordRequests(page);
    await page.goto(base);
    // The upload to the bucket held back a moment, to try leaving in the middle of it.
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await page.route(
      (url) => !url.href.startsWith(base),
      async (route) => {
        if (["POST", "PUT"].includes(route.request().method())) await held;
        await route.continue();
      },
    );
    await page.locator("h1").click(); // a person has touched the page (browsers ask only then)
    await uploadThroughInput(page, files[0]);
    await page.getByText("keep this page open").waitFor({ timeout: 30_000 });
    const asked = new Promise((resolve) => {
      page.once("dialog", async (dialog) => {
        resolve(dialog.type());
        await dialog.dismiss(); // stay
      });
      setTimeout(() => resolve(null), 10_000);
    });
    await page.close({ runBeforeUnload: true });
    report.leave_asked = await asked;
    release();
    if (report.leave_asked !== "beforeunload" || page.isClosed()) {
      throw new Error("leaving in the middle of the upload did not ask first: the page closed, and the upload with it");
    }
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    await page.getByRole("slider", { name: "Frame" }).fill(String(frame));
    await waitForFrame(page, frame);
    await snap(page, "later-frame");
    const at = await framePoint(page, click[0], click[1]);
    await page.mouse.click(at.x, at.y);
    report.mask_pixels = await waitForMask(page);
    await probeOverlay(page);
    await snap(page, "mask-on-later-frame");
    if (values.second) {
      // Another object on the same frame: its own outline, in its own colour.
      const [sx, sy] = values.second.split(",").map(Number);
      await page.getByRole("button", { name: "Add another object" }).click();
      const other = await framePoint(page, sx, sy);
      await page.mouse.click(other.x, other.y);
      report.second_mask_pixels = await waitForMask(page, 1);
      const [px, py] = click;
      // Inside each marker's ring, beside its cross (13 frame px): the mask's colour there.
      report.two_objects = { first: await overlayAt(page, px + 13, py), second: await overlayAt(page, sx + 13, sy) };
      await snap(page, "two-objects");
      await page.getByRole("radio", { name: "Object 1" }).check();
    }
    if (values.later) {
      // A correction further on, before starting: "not this" on a frame with no positive
      // point of the object (the track there is the tracker's): listed, and sent.
      const [cf, cx, cy] = values.later.split(",").map(Number);
      await page.getByRole("slider", { name: "Frame" }).fill(String(cf));
      await waitForFrame(page, cf);
      await page.getByRole("button", { name: "− Not this" }).click();
      const spot = await framePoint(page, cx, cy);
      await page.mouse.click(spot.x, spot.y);
      report.correction_row = await page.locator(".objects li").first().textContent();
      await snap(page, "not-this-further-on");
    }
    await page.getByRole("button", { name: "Start" }).click();
    await page.waitForFunction(() => window.location.hash.startsWith("#job="), null, { timeout: 60_000 });
    await snap(page, "job-started");
  },

  /** A file the browser cannot play (AVI): frames from the server, the job completes. */
  async avi(page) {
    recordRequests(page);
    await page.goto(base);
    await uploadThroughInput(page, files[0]);
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    // The whole frame in view (a portrait video too), not cut by its scroll box.
    const [frameBox, view] = [await page.locator(".frame-box").boundingBox(), await page.locator(".frame-scroll").boundingBox()];
    report.frame_fits = frameBox.height <= view.height + 1 && frameBox.width <= view.width + 1;
    await snap(page, "avi-frame");
    const at = await framePoint(page, click[0], click[1]);
    await page.mouse.click(at.x, at.y);
    report.mask_pixels = await waitForMask(page);
    await snap(page, "avi-mask");
    await startAndFollow(page);
    if (!values.later) return;
    // A correction: back to the frames, a point on a later frame, run again.
    const first = report.job_id;
    await page.getByRole("button", { name: "Fix the outline and run again" }).click();
    await page.getByRole("slider", { name: "Frame" }).fill(String(frame));
    await waitForFrame(page, frame);
    const [lx, ly] = values.later.split(",").map(Number);
    const later = await framePoint(page, lx, ly);
    await page.mouse.click(later.x, later.y);
    await waitForMask(page);
    await snap(page, "avi-correction");
    await page.getByRole("button", { name: "Run again" }).click();
    await page.waitForFunction((old) => window.location.hash.startsWith("#job=") && !window.location.hash.includes(old), first, {
      timeout: 60_000,
    });
    const download = await waitForResult(page);
    report.rerun_download_url = await download.getAttribute("href");
    await snap(page, "avi-rerun-result");
  },

  /** HEVC in a phone's .mov, stored sideways (browsers other than Safari cannot decode it): the same. */
  async hevc(page) {
    await scenarios.avi(page);
  },

  /** Files refused in the browser, before any upload, in plain words. */
  async errors(page) {
    recordRequests(page);
    await page.goto(base);
    report.dropzone_text = await page.locator(".dropzone").textContent();
    report.errors = [];
    for (const file of files) {
      await uploadThroughInput(page, file);
      const alert = page.getByRole("alert");
      await alert.waitFor({ timeout: 10_000 });
      report.errors.push(await alert.textContent());
      await snap(page, `refused-${report.errors.length}`);
    }
  },

  /** Everything with the keyboard alone: choose the file, place the point, start. */
  async keyboard(page) {
    recordRequests(page);
    await page.goto(base);
    const focusedText = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        return `${el?.getAttribute("role") ?? ""}|${el?.getAttribute("aria-label") ?? ""}|${el?.textContent ?? ""}`;
      });
    const tabTo = async (test, limit = 60) => {
      for (let i = 0; i < limit; i++) {
        await page.keyboard.press("Tab");
        if (test(await focusedText())) return;
      }
      throw new Error(`Tab never reached the element (last: ${await focusedText()})`);
    };
    /** The focus ring a person sees on the focused element: its outline, or "none". */
    const focusRing = () =>
      page.evaluate(() => {
        const style = getComputedStyle(document.activeElement);
        return style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2 ? "none" : `${style.outlineWidth} ${style.outlineStyle}`;
      });
    report.focus_rings = {};
    await tabTo((t) => t.includes("Choose a video file"));
    report.focus_rings.dropzone = await focusRing();
    await snap(page, "keyboard-dropzone-focused");
    // Enter opens the file dialog (pressed again if a loaded machine swallowed the first).
    let chooser = null;
    for (let i = 0; i < 3 && !chooser; i++) {
      const opened = page.waitForEvent("filechooser", { timeout: 10_000 }).catch(() => null);
      await page.keyboard.press("Enter");
      chooser = await opened;
    }
    if (!chooser) throw new Error("Enter on the drop zone never opened the file dialog");
    await chooser.setFiles(files[0]);
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    await tabTo((t) => t.startsWith("application|"));
    report.focus_rings.frame = await focusRing();
    report.crosshair_on_focus = await crosshairPixels(page);
    // The crosshair starts in the middle; each arrow press moves it 1% of the longer side.
    const step = 0.01 * Math.max(report.video.display_width, report.video.display_height);
    const dx = Math.round((click[0] - report.video.display_width / 2) / step);
    const dy = Math.round((click[1] - report.video.display_height / 2) / step);
    for (let i = 0; i < Math.abs(dx); i++) await page.keyboard.press(dx < 0 ? "ArrowLeft" : "ArrowRight");
    for (let i = 0; i < Math.abs(dy); i++) await page.keyboard.press(dy < 0 ? "ArrowUp" : "ArrowDown");
    await snap(page, "keyboard-crosshair");
    await page.keyboard.press("Enter");
    report.mask_pixels = await waitForMask(page);
    await probeOverlay(page);
    await snap(page, "keyboard-point-placed");
    await tabTo((t) => t.endsWith("|Start"));
    report.focus_rings.start = await focusRing();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => window.location.hash.startsWith("#job="), null, { timeout: 60_000 });
    await snap(page, "keyboard-job-started");
    const hash = new URLSearchParams((await page.evaluate(() => window.location.hash)).slice(1));
    report.job_id = hash.get("job");
    report.token = hash.get("token");
    // Cancel it, still by keyboard.
    await tabTo((t) => t.endsWith("|Cancel this job"));
    await page.keyboard.press("Enter");
    await page.locator(".job-head strong", { hasText: "Cancelled" }).waitFor({ timeout: 30_000 });
    report.cancelled_shown = true;
    await snap(page, "keyboard-job-cancelled");
    // Cancel keeps the upload and the clicks: back to the same frame and point.
    await tabTo((t) => t.endsWith("|Change the clicks and start again"));
    await page.keyboard.press("Enter");
    await waitForFrame(page, 0);
    report.after_cancel = {
      mask_pixels: await waitForMask(page),
      start: await page.locator(".start button.primary").textContent(),
      objects: await page.locator(".objects li").count(),
    };
    await snap(page, "keyboard-after-cancel");
  },

  /** Every face hidden with no click: tick "Hide all faces", choose the effect, start, the result. */
  async faces(page) {
    recordRequests(page);
    await page.goto(base);
    await uploadThroughInput(page, files[0]);
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    const start = page.getByRole("button", { name: "Start" });
    const faces = page.getByRole("checkbox", { name: "Hide all faces" });
    // Nothing clicked yet: Start waits for a click (or the faces switch).
    report.start_enabled_before = await start.isEnabled();
    report.hint_before = await page.locator(".start small").textContent();
    report.faces_checked_before = await faces.isChecked();
    await snap(page, "nothing-clicked");
    await page.getByRole("radio", { name: /^Hide it/ }).check();
    await page.getByRole("radiogroup", { name: "Effect" }).getByRole("radio", { name: values.effect ?? "Blur" }).check();
    await faces.check();
    report.faces_checked = await faces.isChecked();
    report.start_enabled = await start.isEnabled();
    report.hint = await page.locator(".start small").textContent();
    report.marked_objects = await page.locator(".objects li [data-mask-pixels]").count();
    await snap(page, "faces-ticked");
    // Refused at Start, or a failed job: stop there with the page's words (not minutes later).
    const refused = page.getByRole("alert").or(page.locator(".job-head strong", { hasText: "Failed" }));
    const failed = refused
      .first()
      .waitFor({ timeout: JOB_TIMEOUT })
      .then(async () => {
        throw new Error(`the page says: ${(await page.locator("p.error").allTextContents()).join(" | ")}`);
      });
    await Promise.race([startAndFollow(page), failed]);
    const hash = new URLSearchParams((await page.evaluate(() => window.location.hash)).slice(1));
    report.token = hash.get("token");
    // The result's first frame on screen (the faces as a person sees them), and the
    // moments the page asks to check.
    await page.waitForFunction(() => (document.querySelector(".compare figure:last-child video")?.readyState ?? 0) >= 2, null, {
      timeout: 30_000,
    });
    await page.waitForTimeout(500); // its loading spinner gone
    report.review_listed = await page.locator(".review li").allTextContents();
    await snap(page, "faces-result-shown");
  },

  /** At phone size, with touch: tap the object, switch to "Not this" by touch. */
  async phone(page) {
    recordRequests(page);
    await page.goto(base);
    await snap(page, "phone-start");
    await uploadThroughInput(page, files[0]);
    await waitForVideoFacts(page);
    await waitForFrame(page, 0);
    const at = await framePoint(page, click[0], click[1]);
    await page.touchscreen.tap(at.x, at.y);
    report.mask_pixels = await waitForMask(page);
    await probeOverlay(page);
    await snap(page, "phone-mask");
    const not = page.getByRole("button", { name: "− Not this" });
    const box = await not.boundingBox();
    report.toggle_height = box?.height ?? 0;
    await not.tap();
    report.not_this_pressed = await not.getAttribute("aria-pressed");
    // A tap near the marker adds a point; it never deletes one: the outline is asked again
    // with both points.
    const asked = page.waitForRequest((r) => r.url().includes("/api/upload/mask"), { timeout: 15_000 }).catch(() => null);
    await page.touchscreen.tap(at.x + 4, at.y + 4);
    const request = await asked;
    if (!request) throw new Error("the tap near the marker asked for no outline: was the point deleted?");
    report.near_tap_points = request.postDataJSON().points;
    await waitForMask(page);
    // A tap leaves no keyboard crosshair on the frame.
    report.crosshair_after_taps = await crosshairPixels(page);
    const slider = await page.getByRole("slider", { name: "Frame" }).boundingBox();
    report.slider_width = slider?.width ?? 0;
    report.page_width = await page.evaluate(() => document.documentElement.scrollWidth);
    await snap(page, "phone-not-this");
    // The preview down (as a gateway without the models answers): said in words, Start still works.
    await page.route("**/api/upload/mask", (route) =>
      route.fulfill({
        status: 503,
        contentType: "application/json",
        body: JSON.stringify({ status_code: 503, detail: "the mask preview is not running on this server" }),
      }),
    );
    await page.touchscreen.tap(at.x - 6, at.y - 6);
    const row = page.locator(".objects li").first();
    await row.getByText("Start works without it").waitFor({ timeout: 15_000 }).catch(() => undefined);
    report.preview_down_row = await row.textContent();
    report.start_enabled = await page.getByRole("button", { name: "Start" }).isEnabled();
    await snap(page, "phone-preview-down");
    // Zoom for a small object: the frame grows inside its own scroll box, not the page.
    const frameBox = page.locator(".frame-box");
    const unzoomed = (await frameBox.boundingBox())?.width ?? 0;
    await page.getByRole("button", { name: "Zoom in" }).tap();
    await page.getByRole("button", { name: "Zoom in" }).tap();
    await page.waitForTimeout(300);
    const view = await page.locator(".frame-scroll").boundingBox();
    const ball = await framePoint(page, click[0], click[1]);
    report.zoom = {
      factor: ((await frameBox.boundingBox())?.width ?? 0) / Math.max(1, unzoomed),
      page_width: await page.evaluate(() => document.documentElement.scrollWidth),
      // Zoomed around the last point placed: the ball is in the middle half of the view.
      ball_centred:
        Math.abs(ball.x - (view.x + view.width / 2)) < view.width / 4 && Math.abs(ball.y - (view.y + view.height / 2)) < view.height / 4,
    };
    await snap(page, "phone-zoomed");
    if (!values.check) return;
    // The whole flow at phone size: the editor, the live view waiting for the OK, the result.
    await page.unroute("**/api/upload/mask");
    await page.getByRole("button", { name: "Zoom out" }).tap();
    await page.getByRole("button", { name: "Zoom out" }).tap();
    await fit(page, "editor");
    await page.getByRole("button", { name: "Start" }).tap();
    await page.waitForFunction(() => document.querySelector("[data-live-state]")?.getAttribute("data-live-state") === "ready", null, {
      timeout: JOB_TIMEOUT,
    });
    await fit(page, "live");
    await snap(page, "phone-live-ready");
    await page.getByRole("button", { name: "Looks right: render it" }).tap();
    const download = page.getByRole("link", { name: "Download" });
    await download.waitFor({ timeout: JOB_TIMEOUT });
    await page.waitForTimeout(500);
    await fit(page, "result");
    await snap(page, "phone-result");
  },
};

const phone = scenario === "phone";
const browser = await chromium.launch({ executablePath: values.chromium, headless: true, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext(
    phone
      ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 900 } },
  );
  const page = await context.newPage();
  page.on("pageerror", (err) => (report.page_errors ??= []).push(String(err)));
  try {
    await scenarios[scenario](page);
  } catch (err) {
    await snap(page, "failure").catch(() => undefined);
    report.error = String(err?.stack ?? err);
    console.log(JSON.stringify(report));
    process.exitCode = 1;
  }
  if (!report.error) console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
