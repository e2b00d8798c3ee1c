import { describe, expect, it } from "vitest";
import { bar, buildTree, pathTo, rollup, timelineSpan, traceTotals, visibleRows, type ObservationNode } from "./tree";

function node(id: string, parentId: string | null, startTime: number, extra: Partial<ObservationNode> = {}): ObservationNode {
  return {
    id,
    parentId,
    type: "SPAN",
    name: id,
    startTime,
    endTime: startTime + 10,
    completionStartTime: null,
    level: "DEFAULT",
    model: null,
    totalCost: null,
    totalTokens: null,
    ...extra,
  };
}

describe("buildTree", () => {
  it("orders children by start time and keeps orphans as roots", () => {
    const tree = buildTree([node("b", "root", 20), node("a", "root", 10), node("root", null, 0), node("orphan", "missing", 5)]);
    expect(tree.roots).toEqual(["root", "orphan"]);
    expect(tree.children.get("root")).toEqual(["a", "b"]);
  });

  it("breaks parent cycles instead of losing nodes", () => {
    const tree = buildTree([node("x", "y", 1), node("y", "x", 2), node("self", "self", 3)]);
    const rows = visibleRows(tree, new Set());
    expect(rows.map((row) => row.id).sort()).toEqual(["self", "x", "y"]);
    expect(tree.roots).toContain("self");
  });
});

describe("visibleRows", () => {
  const tree = buildTree([node("r", null, 0), node("c1", "r", 1), node("g", "c1", 2), node("c2", "r", 3)]);

  it("walks depth first with depths", () => {
    expect(visibleRows(tree, new Set()).map((row) => `${row.id}:${row.depth}`)).toEqual(["r:0", "c1:1", "g:2", "c2:1"]);
  });

  it("hides the descendants of collapsed rows", () => {
    const rows = visibleRows(tree, new Set(["c1"]));
    expect(rows.map((row) => row.id)).toEqual(["r", "c1", "c2"]);
    expect(rows[1]).toMatchObject({ hasChildren: true, collapsed: true });
  });

  it("handles a 50,000-deep chain and 50,000 siblings without recursion", () => {
    const chain = Array.from({ length: 50_000 }, (_, index) => node(`n${index}`, index ? `n${index - 1}` : null, index));
    const rows = visibleRows(buildTree(chain), new Set());
    expect(rows).toHaveLength(50_000);
    expect(rows[49_999].depth).toBe(49_999);
    const flat = [node("root", null, 0), ...Array.from({ length: 50_000 }, (_, index) => node(`s${index}`, "root", index))];
    expect(visibleRows(buildTree(flat), new Set())).toHaveLength(50_001);
  });
});

describe("pathTo", () => {
  it("lists the ancestors of a node, root first", () => {
    const tree = buildTree([node("r", null, 0), node("c", "r", 1), node("g", "c", 2)]);
    expect(pathTo(tree, "g")).toEqual(["r", "c", "g"]);
    expect(pathTo(tree, "unknown")).toEqual([]);
  });
});

describe("timeline", () => {
  it("spans the trace start and the latest end", () => {
    const span = timelineSpan([node("a", null, 100, { endTime: 400 }), node("b", null, 200, { endTime: null })], 50);
    expect(span).toEqual({ start: 50, end: 400, duration: 350 });
    expect(timelineSpan([])).toEqual({ start: 0, end: 0, duration: 0 });
  });

  it("places bars as fractions, marks time to first token and open observations", () => {
    const span = { start: 0, end: 1000, duration: 1000 };
    expect(bar(node("a", null, 250, { endTime: 750, completionStartTime: 500 }), span)).toEqual({
      left: 0.25,
      width: 0.5,
      firstToken: 0.5,
      open: false,
    });
    const open = bar(node("b", null, 1000, { endTime: null }), span);
    expect(open.open).toBe(true);
    expect(open.width).toBeGreaterThan(0);
    expect(open.left + open.width).toBeLessThanOrEqual(1.002);
  });
});

describe("rollup", () => {
  it("sums cost and tokens of every subtree", () => {
    const tree = buildTree([
      node("r", null, 0),
      node("g1", "r", 1, { totalCost: 0.5, totalTokens: 100 }),
      node("s", "r", 2),
      node("g2", "s", 3, { totalCost: 0.25, totalTokens: 20 }),
      node("lone", null, 4, { totalCost: 1 }),
    ]);
    const sums = rollup(tree);
    expect(sums.get("r")).toEqual({ cost: 0.75, tokens: 120, count: 4 });
    expect(sums.get("s")).toEqual({ cost: 0.25, tokens: 20, count: 2 });
    expect(traceTotals(tree, sums)).toEqual({ cost: 1.75, tokens: 120, count: 5 });
  });
});
