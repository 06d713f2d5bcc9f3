/** Pure helpers for request lines. Ids are compared lower-case, the way PostgreSQL prints uuids. */

export interface QuantityLine {
  product_id: string;
  quantity: number;
}

/** Lower-case uuid, so `ABC…` and `abc…` name the same row and sort the same way everywhere. */
export const normalizeId = (id: string): string => id.toLowerCase();

/** Byte order of lower-case uuid strings equals PostgreSQL's uuid order (no locale). */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Merges lines naming the same product (quantities summed) and sorts them by product id: the fixed order in
 * which every writer touches stock rows, so concurrent multi-row work cannot deadlock.
 */
export function mergeLines(lines: readonly QuantityLine[]): QuantityLine[] {
  const totals = new Map<string, number>();
  for (const l of lines) {
    const id = normalizeId(l.product_id);
    totals.set(id, (totals.get(id) ?? 0) + l.quantity);
  }
  return [...totals.entries()]
    .map(([product_id, quantity]) => ({ product_id, quantity }))
    .sort((a, b) => compareIds(a.product_id, b.product_id));
}

/** Distinct lower-case ids. */
export const distinctIds = (ids: readonly string[]): string[] => [...new Set(ids.map(normalizeId))];

/** `|quantity| × unitCost` as an exact integer (BigInt inside, so no float rounding on the way). */
export function movementValue(quantity: number, unitCost: number): number {
  const q = BigInt(Math.abs(quantity));
  return Number(q * BigInt(unitCost));
}
