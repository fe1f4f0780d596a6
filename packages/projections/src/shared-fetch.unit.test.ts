import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SharedFetch } from "./consistency.js";

describe("SharedFetch: one JetStream request for many waiting calls", () => {
  it("500 callers at once cost two fetches at most: the first, and one after it for those who asked while it ran", async () => {
    let value = 0;
    const shared = new SharedFetch(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return ++value;
    });
    const answers = await Promise.all(Array.from({ length: 500 }, () => shared.get()));
    assert.equal(shared.fetches, 2);
    assert.deepEqual(new Set(answers), new Set([1, 2]));
  });

  it("a caller arriving while a fetch is in flight gets a fresh one, shared with everyone queued behind it", async () => {
    let value = 0;
    let release: (() => void) | undefined;
    const shared = new SharedFetch(
      () =>
        new Promise<number>((resolve) => {
          const mine = ++value;
          release = () => resolve(mine);
        }),
    );
    const first = shared.get();
    const late = Array.from({ length: 100 }, () => shared.get());
    release!();
    assert.equal(await first, 1);
    await new Promise((resolve) => setImmediate(resolve));
    release!();
    const answers = await Promise.all(late);
    assert.deepEqual(new Set(answers), new Set([2]), "the late callers see a value fetched after they asked");
    assert.equal(shared.fetches, 2);
  });

  it("a failed fetch fails its callers and the next call fetches again", async () => {
    let calls = 0;
    const shared = new SharedFetch(async () => {
      calls++;
      if (calls === 1) throw new Error("broker away");
      return calls;
    });
    await assert.rejects(shared.get(), /broker away/);
    assert.equal(await shared.get(), 2);
  });
});
