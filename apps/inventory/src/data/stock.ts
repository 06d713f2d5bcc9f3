import { execute, num, query, type Db } from './sql';
import { T } from './schema';

/**
 * Quantity changes. Each is ONE conditional statement, so PostgreSQL decides atomically (no read-modify-write
 * in application code); the CHECK constraints on the table are the last line of defence. Callers touching
 * several rows must call these in (product id, warehouse id) order inside one transaction.
 */

export interface StockKey {
  tenantId: string;
  productId: string;
  warehouseId: string;
}

const KEY = 'tenant_id = ? AND product_id = ? AND warehouse_id = ?';
const keyOf = (k: StockKey) => [k.tenantId, k.productId, k.warehouseId];

/**
 * Round-half-up moving average, exactly, in numeric (products of two 10^12 values overflow bigint):
 * round(x / y) = floor((2x + y) / (2y)) for x >= 0, y > 0.
 */
const MOVING_AVERAGE = `div(
    2 * (s.on_hand::numeric * s.average_cost + EXCLUDED.on_hand::numeric * EXCLUDED.average_cost) + (s.on_hand + EXCLUDED.on_hand),
    2 * (s.on_hand::numeric + EXCLUDED.on_hand))::bigint`;

/** Reserves `quantity` if that much is available. @returns false when it is not (nothing changed). */
export async function reserve(db: Db, k: StockKey, quantity: number): Promise<boolean> {
  const n = await execute(
    db,
    `UPDATE ${T.stock} SET reserved = reserved + ? WHERE ${KEY} AND on_hand - reserved >= ?`,
    [quantity, ...keyOf(k), quantity],
  );
  return n === 1;
}

/** Gives back a reserved quantity. @returns false if the row does not hold that much reserved. */
export async function unreserve(db: Db, k: StockKey, quantity: number): Promise<boolean> {
  const n = await execute(
    db,
    `UPDATE ${T.stock} SET reserved = reserved - ? WHERE ${KEY} AND reserved >= ?`,
    [quantity, ...keyOf(k), quantity],
  );
  return n === 1;
}

/** Ships a reserved quantity: on_hand and reserved both drop. @returns the average cost in force, or undefined. */
export async function ship(db: Db, k: StockKey, quantity: number): Promise<number | undefined> {
  const rows = await query<{ average_cost: string }>(
    db,
    `UPDATE ${T.stock} SET on_hand = on_hand - ?, reserved = reserved - ? WHERE ${KEY} AND reserved >= ? RETURNING average_cost`,
    [quantity, quantity, ...keyOf(k), quantity],
  );
  return rows[0] && num(rows[0].average_cost);
}

/**
 * Adds goods at `unitCost` and recomputes the moving average in the same statement (creating the row on
 * first receipt). Used for receipts and transfer_in. @returns the new on_hand and average cost.
 */
export async function receive(
  db: Db,
  k: StockKey,
  quantity: number,
  unitCost: number,
): Promise<{ onHand: number; averageCost: number }> {
  const rows = await query<{ on_hand: string; average_cost: string }>(
    db,
    `INSERT INTO ${T.stock} AS s (tenant_id, product_id, warehouse_id, on_hand, reserved, average_cost)
     VALUES (?, ?, ?, ?, 0, ?)
     ON CONFLICT (tenant_id, product_id, warehouse_id) DO UPDATE
       SET average_cost = ${MOVING_AVERAGE}, on_hand = s.on_hand + EXCLUDED.on_hand
     RETURNING on_hand, average_cost`,
    [...keyOf(k), quantity, unitCost],
  );
  const row = rows[0]!;
  return { onHand: num(row.on_hand), averageCost: num(row.average_cost) };
}

/** Adds goods without changing the average (a positive adjustment). @returns the average in force. */
export async function addOnHand(db: Db, k: StockKey, quantity: number): Promise<number> {
  const rows = await query<{ average_cost: string }>(
    db,
    `INSERT INTO ${T.stock} AS s (tenant_id, product_id, warehouse_id, on_hand) VALUES (?, ?, ?, ?)
     ON CONFLICT (tenant_id, product_id, warehouse_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
     RETURNING average_cost`,
    [...keyOf(k), quantity],
  );
  return num(rows[0]!.average_cost);
}

/**
 * Removes unreserved goods (negative adjustment, transfer_out) if that much is available.
 * @returns the average in force, or undefined when not enough is available (nothing changed).
 */
export async function takeAvailable(db: Db, k: StockKey, quantity: number): Promise<number | undefined> {
  const rows = await query<{ average_cost: string }>(
    db,
    `UPDATE ${T.stock} SET on_hand = on_hand - ? WHERE ${KEY} AND on_hand - reserved >= ? RETURNING average_cost`,
    [quantity, ...keyOf(k), quantity],
  );
  return rows[0] && num(rows[0].average_cost);
}

/**
 * Creates the row if missing and locks it, without changing it: lets a transfer take its row locks in the
 * global order even when it must write the destination before it knows the source's average.
 */
export async function lockRow(db: Db, k: StockKey): Promise<void> {
  await execute(
    db,
    `INSERT INTO ${T.stock} AS s (tenant_id, product_id, warehouse_id) VALUES (?, ?, ?)
     ON CONFLICT (tenant_id, product_id, warehouse_id) DO UPDATE SET on_hand = s.on_hand`,
    keyOf(k),
  );
}

export interface StockRow {
  product_id: string;
  warehouse_id: string;
  on_hand: number;
  reserved: number;
  available: number;
  average_cost: number;
}

/** Stock rows ordered by (product id, warehouse id), after the keyset `after`. */
export async function listStock(
  db: Db,
  tenantId: string,
  filter: { warehouseId?: string; productId?: string },
  limit: number,
  after?: { productId: string; warehouseId: string },
): Promise<StockRow[]> {
  const where = ['tenant_id = ?'];
  const bindings: (string | number)[] = [tenantId];
  if (filter.productId) {
    where.push('product_id = ?');
    bindings.push(filter.productId);
  }
  if (filter.warehouseId) {
    where.push('warehouse_id = ?');
    bindings.push(filter.warehouseId);
  }
  if (after) {
    where.push('(product_id, warehouse_id) > (?::uuid, ?::uuid)');
    bindings.push(after.productId, after.warehouseId);
  }
  bindings.push(limit);
  const rows = await query<{
    product_id: string;
    warehouse_id: string;
    on_hand: string;
    reserved: string;
    average_cost: string;
  }>(
    db,
    `SELECT product_id, warehouse_id, on_hand, reserved, average_cost FROM ${T.stock}
      WHERE ${where.join(' AND ')} ORDER BY product_id, warehouse_id LIMIT ?`,
    bindings,
  );
  return rows.map((r) => ({
    product_id: r.product_id,
    warehouse_id: r.warehouse_id,
    on_hand: num(r.on_hand),
    reserved: num(r.reserved),
    available: num(r.on_hand) - num(r.reserved),
    average_cost: num(r.average_cost),
  }));
}
