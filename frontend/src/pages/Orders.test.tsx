import { describe, expect, it } from "vitest";

import { fillKey } from "./Orders";

describe("fillKey", () => {
  it("recognises one fill from the stream (trade id, +00:00) and from the REST list (fill id, Z)", () => {
    const rest = { fill_id: "f1", order_id: "o1", ticker: "KX", side: "yes", action: "buy", contracts: "3.00", created_at: "2026-11-28T22:55:31.300020Z" } as const;
    const live = { ...rest, fill_id: "t9", created_at: "2026-11-28T22:55:31.300020+00:00" };
    expect(fillKey(live)).toBe(fillKey(rest));
    expect(fillKey({ ...rest, contracts: "1.00" })).not.toBe(fillKey(rest));
  });
});
