import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendMetrics, createRunFolder, flushMetrics, readMetrics } from "../src/train/run-folder.js";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "worldkit-run-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("run folder", () => {
  it("writes config.json (pretty) and command.txt (shell-quoted), and nothing else", async () => {
    const dir = join(root, "a", "run1");
    const config = { model: { layers: 2 }, lr: 0.001, name: "tiny run" };
    await createRunFolder(dir, { config, command: ["worldkit", "train", "--name=tiny run", "--lr=0.001", "it's"] });
    expect(await readFile(join(dir, "config.json"), "utf8")).toBe(
      '{\n  "model": {\n    "layers": 2\n  },\n  "lr": 0.001,\n  "name": "tiny run"\n}\n',
    );
    expect(await readFile(join(dir, "command.txt"), "utf8")).toBe(`worldkit train '--name=tiny run' --lr=0.001 'it'\\''s'\n`);
    expect((await readdir(dir)).sort()).toEqual(["command.txt", "config.json"]);
  });

  it("refuses another run's config unless resuming, and keeps every command of a resumed run", async () => {
    const dir = join(root, "run2");
    await createRunFolder(dir, { config: { lr: 1 }, command: "worldkit train --lr=1" });
    // The same config again is the same run: allowed.
    await createRunFolder(dir, { config: { lr: 1 }, command: "worldkit train --lr=1" });
    await expect(createRunFolder(dir, { config: { lr: 2 }, command: "x" })).rejects.toThrow(/run2\/config\.json holds a different run's config/);
    expect(JSON.parse(await readFile(join(dir, "config.json"), "utf8"))).toEqual({ lr: 1 });
    await createRunFolder(dir, { config: { lr: 2 }, command: "worldkit train --lr=2 --resume", resume: true });
    expect(JSON.parse(await readFile(join(dir, "config.json"), "utf8"))).toEqual({ lr: 2 });
    expect(await readFile(join(dir, "command.txt"), "utf8")).toBe("worldkit train --lr=1\nworldkit train --lr=2 --resume\n");
  });

  it("appends metrics as JSON lines and reads them back", async () => {
    const dir = join(root, "run3");
    await createRunFolder(dir, { config: {}, command: "t" });
    expect(await readMetrics(dir)).toEqual([]);
    const records = Array.from({ length: 50 }, (_, i) => ({ step: i, loss: 1 / (i + 1), phase: "tokenizer" }));
    for (const r of records) appendMetrics(dir, r);
    appendMetrics(dir, { step: 50, loss: NaN });
    flushMetrics(dir);
    const text = await readFile(join(dir, "metrics.jsonl"), "utf8");
    expect(text.split("\n").length).toBe(52); // 51 lines and the final newline
    expect(await readMetrics(dir)).toEqual([...records, { step: 50, loss: null }]);
  });

  it("skips a torn last line, and the next writer cuts it off before appending", async () => {
    const dir = join(root, "run4");
    await mkdir(dir);
    const path = join(dir, "metrics.jsonl");
    await writeFile(path, '{"step":0}\n{"step":1}\n{"step":2,"lo');
    expect(await readMetrics(dir)).toEqual([{ step: 0 }, { step: 1 }]);
    appendMetrics(dir, { step: 2 }); // first append to this file in this process
    expect(await readFile(path, "utf8")).toBe('{"step":0}\n{"step":1}\n{"step":2}\n');

    // A crash just before the newline leaves a whole record: it is kept and finished.
    const dir2 = join(root, "run5");
    await mkdir(dir2);
    await writeFile(join(dir2, "metrics.jsonl"), '{"step":0}\n{"step":1}');
    expect(await readMetrics(dir2)).toEqual([{ step: 0 }, { step: 1 }]);
    appendMetrics(dir2, { step: 2 });
    expect(await readFile(join(dir2, "metrics.jsonl"), "utf8")).toBe('{"step":0}\n{"step":1}\n{"step":2}\n');

    // A bad line that is not the last is damage, not a crash: an error naming the line.
    await appendFile(path, "garbage\n{\"step\":3}\n");
    await expect(readMetrics(dir)).rejects.toThrow(/run4\/metrics\.jsonl:4: not a JSON line/);
  });
});
