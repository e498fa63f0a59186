import { describe, expect, it } from "vitest";
import { diceScores, meanForegroundDice } from "../../../src/model/dice.js";

describe("diceScores", () => {
  const cases: { name: string; pred: number[]; truth: number[]; classes: number; expected: number[] }[] = [
    // class 0: pred {0,1}, truth {0,3}: 2·1/4; class 1: pred {2,3}, truth {1,2}: 2·1/4; class 2: absent in both.
    {
      name: "half overlap each, one class absent",
      pred: [0, 0, 1, 1],
      truth: [0, 1, 1, 0],
      classes: 3,
      expected: [0.5, 0.5, 1],
    },
    // class 1: pred 3 voxels, truth 1, overlap 1 → 2/4; class 2: truth only → 0; class 0: pred 1 truth 2 overlap 1 → 2/3.
    { name: "missed class scores 0", pred: [0, 1, 1, 1], truth: [0, 1, 2, 0], classes: 3, expected: [2 / 3, 0.5, 0] },
    { name: "perfect", pred: [2, 1, 0, 2, 2], truth: [2, 1, 0, 2, 2], classes: 3, expected: [1, 1, 1] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const scores = diceScores(Uint8Array.from(c.pred), Uint8Array.from(c.truth), c.classes);
      expect(scores.length).toBe(c.classes);
      for (const [k, s] of scores.entries()) expect(s).toBeCloseTo(c.expected[k], 12);
    });
  }

  it("refuses maps of different sizes and labels beyond the classes", () => {
    expect(() => diceScores(new Uint8Array(3), new Uint8Array(4), 2)).toThrow(/voxels/);
    expect(() => diceScores(Uint8Array.from([0, 3]), Uint8Array.from([0, 1]), 3)).toThrow(/label 3/);
  });

  it("averages the foreground classes only", () => {
    expect(meanForegroundDice([0.9, 0.5, 0.7])).toBeCloseTo(0.6, 12);
  });
});
