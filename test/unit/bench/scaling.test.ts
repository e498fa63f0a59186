import { describe, expect, it } from "vitest";
import { run } from "../../../bench/scaling.js";
import { InputError } from "../../../src/errors.js";

describe("bench scaling input", () => {
  it.each([
    [{ hosts: 1 }, /^--hosts: expected 2\.\.16$/],
    [{ rate: "fast" }, /^--rate: expected a tc rate such as 1gbit, got fast$/],
    [{ steps: 0 }, /^--steps: /],
    [{ anchor: true, anchorScript: "/nonexistent/ddp.py" }, /^--anchor-script: \/nonexistent\/ddp.py does not exist$/],
  ])("%o is refused before anything is built", async (args, message) => {
    const error = await run(args).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(message);
  });
});
