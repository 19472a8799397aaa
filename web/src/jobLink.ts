/**
 * A job survives a reload, a new tab and a closed tab: its id and access token
 * live in the page's URL fragment (`#job=…&token=…`), which browsers never send
 * to a server (so the token stays out of every server and proxy log), and the
 * last job is also kept in localStorage for a visit to the bare address.
 */

export interface JobLink {
  jobId: string;
  token: string;
}

const STORAGE_KEY = "tapmask.job";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function jobFragment(link: JobLink): string {
  return `#job=${encodeURIComponent(link.jobId)}&token=${encodeURIComponent(link.token)}`;
}

/** The job in a URL fragment (`location.hash`), or null. */
export function parseJobFragment(hash: string): JobLink | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const jobId = params.get("job");
  const token = params.get("token");
  if (!jobId || !token || !UUID.test(jobId)) return null;
  return { jobId, token };
}

type Store = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export function rememberJob(link: JobLink, store: Store = globalThis.localStorage): void {
  try {
    store.setItem(STORAGE_KEY, JSON.stringify(link));
  } catch {
    // private mode or full storage: the URL still holds the job
  }
}

export function rememberedJob(store: Store = globalThis.localStorage): JobLink | null {
  try {
    const raw = store.getItem(STORAGE_KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<JobLink>;
    return typeof value.jobId === "string" && typeof value.token === "string" && UUID.test(value.jobId)
      ? { jobId: value.jobId, token: value.token }
      : null;
  } catch {
    return null;
  }
}

export function forgetJob(store: Store = globalThis.localStorage): void {
  try {
    store.removeItem(STORAGE_KEY);
  } catch {
    // nothing to forget
  }
}
