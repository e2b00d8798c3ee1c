// Pure logic of the trace view: the observation tree, its flattened visible rows, the
// timeline geometry and the cost/token roll-up. No React, no DOM: unit-tested.
// Every walk is iterative, so a 50,000-deep chain cannot overflow the stack.

export type ObservationNode = {
  id: string;
  parentId: string | null;
  type: string;
  name: string | null;
  /** Epoch milliseconds. */
  startTime: number;
  endTime: number | null;
  completionStartTime: number | null;
  level: string;
  model: string | null;
  totalCost: number | null;
  totalTokens: number | null;
};

export type ObservationTree = {
  byId: Map<string, ObservationNode>;
  /** Ids of the children of each id, by start time then id. */
  children: Map<string, string[]>;
  /** Observations without a (known) parent, by start time then id. */
  roots: string[];
};

const byStart = (nodes: Map<string, ObservationNode>) => (a: string, b: string) => {
  const left = nodes.get(a)!;
  const right = nodes.get(b)!;
  return left.startTime - right.startTime || (a < b ? -1 : a > b ? 1 : 0);
};

/**
 * Builds the tree. An observation whose parent is missing (not ingested yet, or the
 * trace is partial) becomes a root rather than disappearing; so does any observation
 * on a parent cycle, at the point where the cycle is found.
 */
export function buildTree(observations: ObservationNode[]): ObservationTree {
  const byId = new Map<string, ObservationNode>();
  for (const observation of observations) byId.set(observation.id, observation);
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  for (const observation of byId.values()) {
    const parent = observation.parentId;
    if (parent && parent !== observation.id && byId.has(parent)) {
      let list = children.get(parent);
      if (!list) children.set(parent, (list = []));
      list.push(observation.id);
    } else {
      roots.push(observation.id);
    }
  }
  const compare = byStart(byId);
  roots.sort(compare);
  for (const list of children.values()) list.sort(compare);
  // Nodes on a cycle are reachable from no root: promote one node per cycle to a root.
  const reached = new Set<string>();
  const visit = (start: string) => {
    const stack = [start];
    while (stack.length) {
      const id = stack.pop()!;
      if (reached.has(id)) continue;
      reached.add(id);
      for (const child of children.get(id) ?? []) stack.push(child);
    }
  };
  for (const root of roots) visit(root);
  if (reached.size < byId.size) {
    for (const id of [...byId.keys()].sort(compare)) {
      if (reached.has(id)) continue;
      const parent = byId.get(id)!.parentId!;
      const siblings = children.get(parent)!;
      siblings.splice(siblings.indexOf(id), 1);
      roots.push(id);
      visit(id);
    }
    roots.sort(compare);
  }
  return { byId, children, roots };
}

export type VisibleRow = {
  id: string;
  depth: number;
  hasChildren: boolean;
  collapsed: boolean;
};

/** Depth-first rows, skipping the descendants of collapsed ids. */
export function visibleRows(tree: ObservationTree, collapsed: ReadonlySet<string>): VisibleRow[] {
  const rows: VisibleRow[] = [];
  const stack: Array<[string, number]> = [];
  for (let index = tree.roots.length - 1; index >= 0; index--) stack.push([tree.roots[index], 0]);
  while (stack.length) {
    const [id, depth] = stack.pop()!;
    const kids = tree.children.get(id) ?? [];
    const isCollapsed = collapsed.has(id);
    rows.push({ id, depth, hasChildren: kids.length > 0, collapsed: isCollapsed });
    if (!isCollapsed) {
      for (let index = kids.length - 1; index >= 0; index--) stack.push([kids[index], depth + 1]);
    }
  }
  return rows;
}

/** The ids from the root down to `id` (inclusive), e.g. to expand a deep-linked node. */
export function pathTo(tree: ObservationTree, id: string): string[] {
  const path: string[] = [];
  const seen = new Set<string>();
  let current: string | null | undefined = id;
  while (current && tree.byId.has(current) && !seen.has(current)) {
    seen.add(current);
    path.push(current);
    const parent: string | null = tree.byId.get(current)!.parentId;
    current = parent && tree.children.get(parent)?.includes(current) ? parent : null;
  }
  return path.reverse();
}

export type TimelineSpan = { start: number; end: number; duration: number };

/** The time range covered by the trace and its observations (end ≥ start). */
export function timelineSpan(observations: Iterable<ObservationNode>, traceStart?: number): TimelineSpan {
  let start = traceStart ?? Number.POSITIVE_INFINITY;
  let end = traceStart ?? Number.NEGATIVE_INFINITY;
  for (const observation of observations) {
    start = Math.min(start, observation.startTime);
    end = Math.max(end, observation.endTime ?? observation.startTime);
  }
  if (!Number.isFinite(start)) return { start: 0, end: 0, duration: 0 };
  return { start, end, duration: end - start };
}

export type Bar = {
  /** Fractions of the timeline width, 0..1. */
  left: number;
  width: number;
  /** Where the first token arrived, as a fraction of the bar, or null. */
  firstToken: number | null;
  /** Still running (no end time). */
  open: boolean;
};

/** The waterfall bar of one observation. Zero-length observations get a visible sliver. */
export function bar(observation: ObservationNode, span: TimelineSpan, minWidth = 0.002): Bar {
  const total = span.duration || 1;
  const end = observation.endTime ?? observation.startTime;
  const left = Math.min(1, Math.max(0, (observation.startTime - span.start) / total));
  const width = Math.max(minWidth, Math.min(1 - left, (end - observation.startTime) / total));
  const length = end - observation.startTime;
  const firstToken =
    observation.completionStartTime != null && length > 0
      ? Math.min(1, Math.max(0, (observation.completionStartTime - observation.startTime) / length))
      : null;
  return { left, width, firstToken, open: observation.endTime == null };
}

export type Rollup = { cost: number; tokens: number; count: number };

/** Cost, tokens and observation count of every subtree (the node included). */
export function rollup(tree: ObservationTree): Map<string, Rollup> {
  const result = new Map<string, Rollup>();
  const order: string[] = [];
  const stack = [...tree.roots];
  while (stack.length) {
    const id = stack.pop()!;
    order.push(id);
    for (const child of tree.children.get(id) ?? []) stack.push(child);
  }
  // Children come after their parent in `order`: walk it backwards.
  for (let index = order.length - 1; index >= 0; index--) {
    const id = order[index];
    const node = tree.byId.get(id)!;
    const sum: Rollup = { cost: node.totalCost ?? 0, tokens: node.totalTokens ?? 0, count: 1 };
    for (const child of tree.children.get(id) ?? []) {
      const childSum = result.get(child)!;
      sum.cost += childSum.cost;
      sum.tokens += childSum.tokens;
      sum.count += childSum.count;
    }
    result.set(id, sum);
  }
  return result;
}

/** Cost and tokens of the whole trace. */
export function traceTotals(tree: ObservationTree, sums = rollup(tree)): Rollup {
  const total: Rollup = { cost: 0, tokens: 0, count: 0 };
  for (const root of tree.roots) {
    const sum = sums.get(root)!;
    total.cost += sum.cost;
    total.tokens += sum.tokens;
    total.count += sum.count;
  }
  return total;
}
