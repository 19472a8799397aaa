import { describe, expect, it } from "vitest";
import { forgetJob, jobFragment, parseJobFragment, rememberedJob, rememberJob } from "./jobLink";

const link = { jobId: "3f2b8c1e-9a4d-4e6f-8b21-0c5d7e9f1a2b", token: "abc-_DEF=" };

class MemoryStore {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

describe("job link", () => {
  it("round-trips through the URL fragment, token included", () => {
    const hash = jobFragment(link);
    expect(hash.startsWith("#job=")).toBe(true);
    expect(parseJobFragment(hash)).toEqual(link);
  });

  it("ignores fragments that are not a job", () => {
    expect(parseJobFragment("")).toBeNull();
    expect(parseJobFragment("#job=not-a-uuid&token=x")).toBeNull();
    expect(parseJobFragment(`#job=${link.jobId}`)).toBeNull();
  });

  it("remembers the last job and forgets it", () => {
    const store = new MemoryStore();
    expect(rememberedJob(store)).toBeNull();
    rememberJob(link, store);
    expect(rememberedJob(store)).toEqual(link);
    forgetJob(store);
    expect(rememberedJob(store)).toBeNull();
    store.setItem("tapmask.job", "{broken");
    expect(rememberedJob(store)).toBeNull();
  });
});
