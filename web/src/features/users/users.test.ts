import { describe, expect, it } from "vitest";
import { nextOrder, validateUsersSearch } from "./UsersPages";

describe("users URL state", () => {
  it("keeps known sorts, pages and searches only", () => {
    expect(validateUsersSearch({ page: "3", orderBy: "totalCost.desc", search: " al " })).toEqual({ page: 3, orderBy: "totalCost.desc", search: "al" });
    expect(validateUsersSearch({ page: "0", orderBy: "name.asc", search: "" })).toEqual({});
  });
  it("toggles a column from descending to ascending", () => {
    expect(nextOrder(undefined, "totalCost")).toBe("totalCost.desc");
    expect(nextOrder("totalCost.desc", "totalCost")).toBe("totalCost.asc");
    expect(nextOrder("totalCost.asc", "totalCost")).toBe("totalCost.desc");
    expect(nextOrder("totalCost.desc", "lastSeen")).toBe("lastSeen.desc");
  });
});
