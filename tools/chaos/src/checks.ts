import type { Client } from 'pg';
import { EXPECTED_REJECTIONS, type Ledger, type WriteKind, type WriteOp } from './workload';

/** The outcome of one invariant. */
export interface Verdict {
  name: string;
  pass: boolean;
  /** The numbers behind the verdict, on one line. */
  summary: string;
  /** Up to a few examples of what failed. */
  details: string[];
}

const MAX_DETAILS = 8;

function verdict(name: string, failures: string[], summary: string): Verdict {
  return { name, pass: failures.length === 0, summary, details: failures.slice(0, MAX_DETAILS) };
}

const n = (v: unknown): number => Number(v ?? 0);

/** Which schema audits which write kind, and the entity type it uses. */
const AUDITED: Partial<Record<WriteKind, { schema: 'inventory' | 'accounting'; entity: string }>> = {
  receipt: { schema: 'inventory', entity: 'receipt' },
  reservation: { schema: 'inventory', entity: 'reservation' },
  commit: { schema: 'inventory', entity: 'reservation' },
  release: { schema: 'inventory', entity: 'reservation' },
  adjustment: { schema: 'inventory', entity: 'adjustment' },
  transfer: { schema: 'inventory', entity: 'transfer' },
  journal_entry: { schema: 'accounting', entity: 'journal_entry' },
};

/** Documents that carry the operation's key in a field of their own. */
const MARKED: Partial<Record<WriteKind, true>> = {
  receipt: true,
  adjustment: true,
  transfer: true,
  journal_entry: true,
};

/** Stock rows, their movements and active reservations: no oversell, bounds, on_hand = Σ movements. */
async function stockChecks(db: Client, ledger: Ledger): Promise<Verdict[]> {
  const { rows } = await db.query<{
    tenant_id: string;
    product_id: string;
    warehouse_id: string;
    on_hand: string | null;
    reserved: string | null;
    moved: string;
    active_reserved: string;
  }>(`
    SELECT tenant_id, product_id, warehouse_id, s.on_hand::text, s.reserved::text,
           COALESCE(m.total, 0)::text AS moved, COALESCE(r.total, 0)::text AS active_reserved
      FROM inventory.stock_levels s
      FULL JOIN (SELECT tenant_id, product_id, warehouse_id, sum(quantity) AS total
                   FROM inventory.stock_movements GROUP BY 1, 2, 3) m USING (tenant_id, product_id, warehouse_id)
      LEFT JOIN (SELECT l.tenant_id, l.product_id, r.warehouse_id, sum(l.quantity) AS total
                   FROM inventory.reservations r
                   JOIN inventory.reservation_lines l ON l.tenant_id = r.tenant_id AND l.reservation_id = r.id
                  WHERE r.status = 'active' GROUP BY 1, 2, 3) r USING (tenant_id, product_id, warehouse_id)`);
  const bounds: string[] = [];
  const ledgerSum: string[] = [];
  const reservedSum: string[] = [];
  let units = 0;
  for (const r of rows) {
    const where = `product ${r.product_id.slice(0, 8)} warehouse ${r.warehouse_id.slice(0, 8)}`;
    const onHand = r.on_hand === null ? null : n(r.on_hand);
    const reserved = n(r.reserved);
    units += onHand ?? 0;
    if (onHand !== null && !(onHand >= 0 && reserved >= 0 && reserved <= onHand))
      bounds.push(`${where}: on_hand ${onHand}, reserved ${reserved}`);
    if (onHand !== n(r.moved))
      ledgerSum.push(`${where}: on_hand ${onHand ?? 'missing'} but movements sum to ${r.moved}`);
    if (onHand !== null && reserved !== n(r.active_reserved))
      reservedSum.push(`${where}: reserved ${reserved} but active reservations hold ${r.active_reserved}`);
  }
  const live = ledger.liveStockViolations.map((v) => `live GET /v1/stock: ${v.what}`);
  const insufficient = ledger.writes.filter((w) => w.problem === 'insufficient-stock').length;
  return [
    verdict(
      'no oversell: 0 <= reserved <= on_hand',
      [...bounds, ...live],
      `${rows.length} stock rows (${units} units on hand) and ${ledger.liveReads.stock} live stock reads; ` +
        `${bounds.length + live.length} violations; ${insufficient} requests refused with insufficient-stock`,
    ),
    verdict(
      'on_hand = Σ movements',
      ledgerSum,
      `${rows.length} (product, warehouse) rows; ${ledgerSum.length} mismatches`,
    ),
    verdict(
      'reserved = Σ active reservation lines',
      reservedSum,
      `${rows.length} rows; ${reservedSum.length} mismatches`,
    ),
  ];
}

/** Reservations: closed at most once, shipments exactly once per committed line, expiry caught up. */
async function reservationChecks(db: Client, ledger: Ledger): Promise<Verdict[]> {
  const { rows } = await db.query<{
    id: string;
    status: string;
    overdue: boolean;
    lines: string;
    shipments: string;
  }>(`
    SELECT r.id, r.status, r.status = 'active' AND r.expires_at < now() - interval '5 seconds' AS overdue,
           (SELECT count(*) FROM inventory.reservation_lines l
             WHERE l.tenant_id = r.tenant_id AND l.reservation_id = r.id) AS lines,
           (SELECT count(*) FROM inventory.stock_movements m
             WHERE m.tenant_id = r.tenant_id AND m.document_type = 'reservation' AND m.document_id = r.id) AS shipments
      FROM inventory.reservations r`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const failures: string[] = [];
  const count: Record<string, number> = {};
  for (const r of rows) {
    count[r.status] = (count[r.status] ?? 0) + 1;
    const expected = r.status === 'committed' ? n(r.lines) : 0;
    if (n(r.shipments) !== expected)
      failures.push(
        `reservation ${r.id} (${r.status}, ${r.lines} lines) has ${r.shipments} shipment movements`,
      );
    if (r.overdue) failures.push(`reservation ${r.id} is still active more than 5 s after expires_at`);
  }
  for (const w of ledger.writes) {
    if ((w.kind !== 'commit' && w.kind !== 'release') || w.outcome !== 'acked' || !w.reservationId) continue;
    const want = w.kind === 'commit' ? 'committed' : 'released';
    const got = byId.get(w.reservationId)?.status;
    if (got !== want)
      failures.push(`${w.kind} of ${w.reservationId} was acknowledged but its status is ${got ?? 'missing'}`);
  }
  for (const id of ledger.doubleClose)
    failures.push(`reservation ${id}: commit and release were both acknowledged`);
  const races = ledger.writes.filter((w) => w.kind === 'release' && w.outcome !== 'unknown').length;
  return [
    verdict(
      'reservations closed at most once; shipments once per committed line; expiry within 5 s',
      failures,
      `${rows.length} reservations (${Object.entries(count)
        .map(([k, v]) => `${v} ${k}`)
        .join(
          ', ',
        )}); ${races} releases (some racing a commit); ${ledger.doubleClose.length} double closes; ` +
        `${failures.length} violations`,
    ),
  ];
}

interface AuditRow {
  key: string;
  schema: string;
  entity_type: string;
  entity_id: string;
}

/** Every acknowledged write present exactly once; no write applied twice; 4xx applied nothing; replays inert. */
async function exactlyOnceChecks(db: Client, ledger: Ledger): Promise<Verdict[]> {
  const docs = await db.query<{ kind: string; tenant_id: string; id: string; marker: string | null }>(`
    SELECT 'receipt' AS kind, tenant_id, id, reference AS marker FROM inventory.receipts
    UNION ALL SELECT 'adjustment', tenant_id, id, reason FROM inventory.adjustments
    UNION ALL SELECT 'transfer', tenant_id, id, reference FROM inventory.transfers
    UNION ALL SELECT 'journal_entry', tenant_id, id, memo FROM accounting.journal_entries WHERE source_type IS NULL
    UNION ALL SELECT 'reservation', tenant_id, id, NULL FROM inventory.reservations
    UNION ALL SELECT 'warehouse', tenant_id, id, code FROM inventory.warehouses
    UNION ALL SELECT 'product', tenant_id, id, sku FROM inventory.products
    UNION ALL SELECT 'account', tenant_id, id, code FROM accounting.accounts
    UNION ALL SELECT 'tenant', tenant_id, tenant_id, slug FROM iam.tenants`);
  const present = new Map<string, number>();
  const byMarker = new Map<string, string[]>();
  for (const d of docs.rows) {
    const k = `${d.kind}:${d.tenant_id}:${d.id}`;
    present.set(k, (present.get(k) ?? 0) + 1);
    if (d.marker?.startsWith('chaos-')) {
      const m = `${d.kind}:${d.marker}`;
      byMarker.set(m, [...(byMarker.get(m) ?? []), d.id]);
    }
  }
  const audit = await db.query<AuditRow>(`
    SELECT regexp_replace(request_id, '\\.[0-9]+$', '') AS key, 'inventory' AS schema, entity_type, entity_id
      FROM inventory.audit_events WHERE request_id LIKE 'chaos-%'
    UNION ALL
    SELECT regexp_replace(request_id, '\\.[0-9]+$', ''), 'accounting', entity_type, entity_id
      FROM accounting.audit_events WHERE request_id LIKE 'chaos-%'`);
  const audited = new Map<string, AuditRow[]>();
  for (const a of audit.rows) audited.set(a.key, [...(audited.get(a.key) ?? []), a]);

  const missing: string[] = [];
  const duplicates: string[] = [];
  const rejectedApplied: string[] = [];
  const stats = { acked: 0, rejected: 0, unknown: 0, unknownApplied: 0, auditChecked: 0 };
  for (const w of ledger.writes) {
    stats[w.outcome]++;
    const tenant = w.kind === 'tenant' ? w.id : w.tenantId;
    if (w.outcome === 'acked' && w.id && w.kind !== 'commit' && w.kind !== 'release') {
      const times = present.get(`${w.kind}:${tenant}:${w.id}`) ?? 0;
      if (times !== 1) missing.push(`${w.kind} ${w.id} (key ${w.key}) acknowledged, present ${times} times`);
    }
    if (MARKED[w.kind]) {
      const ids = byMarker.get(`${w.kind}:${w.key}`) ?? [];
      if (ids.length > 1)
        duplicates.push(`${w.kind} key ${w.key} created ${ids.length} documents: ${ids.join(', ')}`);
      if (w.outcome === 'acked' && (ids.length !== 1 || ids[0] !== w.id))
        missing.push(
          `${w.kind} key ${w.key} acknowledged as ${w.id}, documents with its marker: [${ids.join(', ')}]`,
        );
      if (w.outcome === 'rejected' && ids.length > 0)
        rejectedApplied.push(`${w.kind} key ${w.key} answered ${w.status} but created ${ids.join(', ')}`);
    }
    const a = AUDITED[w.kind];
    if (a) {
      stats.auditChecked++;
      const rows = (audited.get(w.key) ?? []).filter(
        (r) => r.schema === a.schema && r.entity_type === a.entity,
      );
      const entities = new Set(rows.map((r) => r.entity_id));
      if (rows.length > 1)
        duplicates.push(`${w.kind} key ${w.key}: ${rows.length} audit events (${[...entities].join(', ')})`);
      if (w.outcome === 'acked' && rows.length !== 1)
        missing.push(`${w.kind} key ${w.key} acknowledged but has ${rows.length} audit events`);
      if (w.outcome === 'acked' && w.id && rows.length === 1 && !entities.has(w.id))
        missing.push(
          `${w.kind} key ${w.key} acknowledged as ${w.id} but audited as ${[...entities].join(', ')}`,
        );
      if (w.outcome === 'rejected' && rows.length > 0)
        rejectedApplied.push(`${w.kind} key ${w.key} answered ${w.status} but was audited as applied`);
      if (w.outcome === 'unknown' && rows.length > 0) stats.unknownApplied++;
    }
  }
  const replayAudits = audit.rows.filter((r) => r.key.includes('-replay-'));
  const replayFailures = [
    ...ledger.replays.filter((r) => !r.ok).map((r) => r.detail),
    ...replayAudits.map((r) => `replay ${r.key} wrote an audit event for ${r.entity_type} ${r.entity_id}`),
  ];
  return [
    verdict(
      'every acknowledged write present exactly once',
      [...missing, ...duplicates, ...rejectedApplied],
      `${ledger.writes.length} writes: ${stats.acked} acknowledged, ${stats.rejected} refused (4xx), ${stats.unknown} ` +
        `unanswered (${stats.unknownApplied} of them applied); ${missing.length} missing, ${duplicates.length} applied twice, ` +
        `${rejectedApplied.length} refused-but-applied (${stats.auditChecked} checked against audit rows by request id)`,
    ),
    verdict(
      'replays return the same answer and change nothing',
      replayFailures,
      `${ledger.replays.length} deliberate replays; ${replayFailures.length} failures`,
    ),
  ];
}

/** Movements per document, one outbox event each, each valued movement posted exactly once with the right amounts. */
async function postingChecks(db: Client, ledger: Ledger): Promise<Verdict[]> {
  const docs = await db.query<{
    document_type: string;
    document_id: string;
    type: string;
    n: string;
    exists: boolean;
  }>(`
    SELECT m.document_type, m.document_id, m.type, count(*) AS n,
           CASE m.document_type
             WHEN 'receipt' THEN EXISTS (SELECT 1 FROM inventory.receipts d WHERE d.tenant_id = m.tenant_id AND d.id = m.document_id)
             WHEN 'adjustment' THEN EXISTS (SELECT 1 FROM inventory.adjustments d WHERE d.tenant_id = m.tenant_id AND d.id = m.document_id)
             WHEN 'transfer' THEN EXISTS (SELECT 1 FROM inventory.transfers d WHERE d.tenant_id = m.tenant_id AND d.id = m.document_id)
             WHEN 'reservation' THEN EXISTS (SELECT 1 FROM inventory.reservations d WHERE d.tenant_id = m.tenant_id AND d.id = m.document_id)
           END AS exists
      FROM inventory.stock_movements m GROUP BY m.tenant_id, 1, 2, 3`);
  const movementFailures: string[] = [];
  const perDoc = new Map<string, Record<string, number>>();
  for (const d of docs.rows) {
    if (!d.exists)
      movementFailures.push(`${d.n} ${d.type} movements of a missing ${d.document_type} ${d.document_id}`);
    const k = `${d.document_type}:${d.document_id}`;
    perDoc.set(k, { ...(perDoc.get(k) ?? {}), [d.type]: n(d.n) });
  }
  for (const [k, types] of perDoc) {
    if (k.startsWith('adjustment:') && (types.adjustment ?? 0) !== 1)
      movementFailures.push(`${k} has ${JSON.stringify(types)} movements (want 1)`);
    if (k.startsWith('transfer:') && (types.transfer_in ?? 0) !== (types.transfer_out ?? 0))
      movementFailures.push(`${k} has ${JSON.stringify(types)} movements (want as many in as out)`);
  }
  const receiptIds = new Set(
    ledger.writes
      .filter((w) => w.kind === 'receipt' && w.outcome === 'acked' && w.id)
      .map((w) => w.id as string),
  );
  for (const w of ledger.writes) {
    if (w.kind !== 'receipt' || w.outcome !== 'acked' || !w.id) continue;
    const lines = ((w.body as { lines?: unknown[] }).lines ?? []).length;
    const got = perDoc.get(`receipt:${w.id}`)?.receipt ?? 0;
    if (got !== lines) movementFailures.push(`receipt ${w.id} has ${got} movements for ${lines} lines`);
  }

  const posted = await db.query<{
    id: string;
    type: string;
    quantity: string;
    unit_cost: string;
    entries: string;
    debit: string | null;
    credit: string | null;
    dr: string[] | null;
    cr: string[] | null;
    outbox: string | null;
  }>(`
    SELECT m.id, m.type, m.quantity::text, m.unit_cost::text, e.entries, e.debit::text, e.credit::text, e.dr, e.cr,
           o.status AS outbox
      FROM inventory.stock_movements m
      LEFT JOIN inventory.outbox o ON o.tenant_id = m.tenant_id AND o.id = m.id
      LEFT JOIN LATERAL (
        SELECT count(DISTINCT je.id) AS entries, sum(l.debit) AS debit, sum(l.credit) AS credit,
               array_agg(DISTINCT a.code) FILTER (WHERE l.debit > 0) AS dr,
               array_agg(DISTINCT a.code) FILTER (WHERE l.credit > 0) AS cr
          FROM accounting.journal_entries je
          JOIN accounting.journal_lines l ON l.tenant_id = je.tenant_id AND l.entry_id = je.id
          JOIN accounting.accounts a ON a.tenant_id = l.tenant_id AND a.id = l.account_id
         WHERE je.tenant_id = m.tenant_id AND je.source_type = 'stock_movement' AND je.source_id = m.id) e ON true`);
  const orphans = await db.query<{ n: string }>(`
    SELECT count(*) AS n FROM accounting.journal_entries je
     WHERE je.source_type = 'stock_movement' AND NOT EXISTS (
       SELECT 1 FROM inventory.stock_movements m WHERE m.tenant_id = je.tenant_id AND m.id = je.source_id)`);
  const processed = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM accounting.processed_events WHERE topic = 'inventory.stock_movement'`,
  );
  const postingFailures: string[] = [];
  const announceFailures: string[] = [];
  let valued = 0;
  for (const m of posted.rows) {
    if (m.outbox === null) announceFailures.push(`movement ${m.id} has no outbox event`);
    else if (m.outbox !== 'done') announceFailures.push(`movement ${m.id}: outbox event still ${m.outbox}`);
    const q = n(m.quantity);
    const value = Math.abs(q) * n(m.unit_cost);
    const rule: [string, string] | undefined =
      value === 0
        ? undefined
        : m.type === 'receipt'
          ? ['1300', '2100']
          : m.type === 'shipment'
            ? ['5000', '1300']
            : m.type === 'adjustment'
              ? q > 0
                ? ['1300', '6100']
                : ['6100', '1300']
              : undefined;
    const entries = n(m.entries);
    if (!rule) {
      if (entries !== 0)
        postingFailures.push(`${m.type} movement ${m.id} (value ${value}) has ${entries} entries, want 0`);
      continue;
    }
    valued++;
    if (entries !== 1) {
      postingFailures.push(`${m.type} movement ${m.id} (value ${value}) has ${entries} entries, want 1`);
      continue;
    }
    const dr = (m.dr ?? []).join(',');
    const cr = (m.cr ?? []).join(',');
    if (n(m.debit) !== value || n(m.credit) !== value || dr !== rule[0] || cr !== rule[1])
      postingFailures.push(
        `${m.type} movement ${m.id}: Dr ${dr} ${m.debit} / Cr ${cr} ${m.credit}, want Dr ${rule[0]} / Cr ${rule[1]} ${value}`,
      );
  }
  if (n(orphans.rows[0]?.n) > 0)
    postingFailures.push(`${orphans.rows[0]?.n} entries sourced from no movement`);
  if (n(processed.rows[0]?.n) !== posted.rows.length)
    announceFailures.push(
      `accounting processed ${processed.rows[0]?.n} stock movement events for ${posted.rows.length} movements`,
    );
  return [
    verdict(
      'stock movements exactly once per document line',
      movementFailures,
      `${posted.rows.length} movements over ${perDoc.size} documents (${receiptIds.size} acknowledged receipts checked line by line); ` +
        `${movementFailures.length} violations`,
    ),
    verdict(
      'every valued movement posted exactly once (right accounts and amount)',
      postingFailures,
      `${valued} valued movements, ${posted.rows.length - valued} that post nothing (transfers, value 0); ` +
        `${postingFailures.length} violations; ${orphans.rows[0]?.n ?? 0} orphan entries`,
    ),
    verdict(
      'every movement announced and consumed exactly once',
      announceFailures,
      `${posted.rows.length} movements, ${processed.rows[0]?.n ?? 0} processed events; ${announceFailures.length} violations`,
    ),
  ];
}

/** Balanced books: per entry, per tenant, slot balances = lines, API trial balances. */
async function ledgerChecks(
  db: Client,
  ledger: Ledger,
  apiTrialBalances: { tenant: string; debit: number; credit: number; tenantId: string }[],
): Promise<Verdict[]> {
  const unbalanced = await db.query<{ n: string }>(`
    SELECT count(*) AS n FROM (SELECT 1 FROM accounting.journal_lines GROUP BY tenant_id, entry_id
                                HAVING sum(debit) <> sum(credit) OR count(*) < 2) x`);
  // A trial balance shows each account's net on one side, so its totals are Σ max(net, 0) and Σ max(-net, 0).
  const tenants = await db.query<{ tenant_id: string; d: string; c: string; nd: string; nc: string }>(`
    SELECT tenant_id, sum(d)::text AS d, sum(c)::text AS c, sum(GREATEST(d - c, 0))::text AS nd,
           sum(GREATEST(c - d, 0))::text AS nc
      FROM (SELECT tenant_id, account_id, sum(debit) AS d, sum(credit) AS c
              FROM accounting.journal_lines GROUP BY 1, 2) per_account
     GROUP BY tenant_id`);
  const entryCount = await db.query<{ n: string }>(`SELECT count(*) AS n FROM accounting.journal_entries`);
  const slots = await db.query<{ account_id: string; bd: string; bc: string; ld: string; lc: string }>(`
    SELECT account_id, COALESCE(b.d, 0)::text AS bd, COALESCE(b.c, 0)::text AS bc,
           COALESCE(l.d, 0)::text AS ld, COALESCE(l.c, 0)::text AS lc
      FROM (SELECT tenant_id, account_id, sum(debit) AS d, sum(credit) AS c
              FROM accounting.account_balances GROUP BY 1, 2) b
      FULL JOIN (SELECT tenant_id, account_id, sum(debit) AS d, sum(credit) AS c
                   FROM accounting.journal_lines GROUP BY 1, 2) l USING (tenant_id, account_id)
     WHERE COALESCE(b.d, 0) <> COALESCE(l.d, 0) OR COALESCE(b.c, 0) <> COALESCE(l.c, 0)`);
  const failures: string[] = [];
  if (n(unbalanced.rows[0]?.n) > 0) failures.push(`${unbalanced.rows[0]?.n} unbalanced entries`);
  const dbTotals = new Map(tenants.rows.map((t) => [t.tenant_id, t]));
  for (const t of tenants.rows)
    if (t.d !== t.c) failures.push(`tenant ${t.tenant_id}: debits ${t.d} <> credits ${t.c}`);
  for (const s of slots.rows)
    failures.push(`account ${s.account_id}: balance slots ${s.bd}/${s.bc} but lines ${s.ld}/${s.lc}`);
  for (const tb of apiTrialBalances) {
    const d = dbTotals.get(tb.tenantId);
    if (tb.debit !== tb.credit)
      failures.push(`GET /v1/trial-balance of ${tb.tenant}: ${tb.debit} <> ${tb.credit}`);
    if (d && (n(d.nd) !== tb.debit || n(d.nc) !== tb.credit))
      failures.push(
        `GET /v1/trial-balance of ${tb.tenant} totals ${tb.debit}/${tb.credit}, net balances of the lines ${d.nd}/${d.nc}`,
      );
  }
  for (const v of ledger.liveTrialBalanceViolations) failures.push(`live: ${v.what}`);
  const entries = n(entryCount.rows[0]?.n);
  return [
    verdict(
      'every trial balance balanced',
      failures,
      `${tenants.rows.length} tenants, ${entries} entries; ${apiTrialBalances.length} final and ` +
        `${ledger.liveReads.trialBalance} live API trial balances; ${failures.length} violations`,
    ),
  ];
}

/** Invariants read from the database after the system settled (connect as a superuser: RLS is bypassed). */
export async function databaseChecks(
  db: Client,
  ledger: Ledger,
  apiTrialBalances: { tenant: string; tenantId: string; debit: number; credit: number }[],
): Promise<Verdict[]> {
  return [
    ...(await stockChecks(db, ledger)),
    ...(await reservationChecks(db, ledger)),
    ...(await exactlyOnceChecks(db, ledger)),
    ...(await postingChecks(db, ledger)),
    ...(await ledgerChecks(db, ledger, apiTrialBalances)),
  ];
}

/** Pending outbox rows per schema (for settling and the drain check). */
export async function pendingOutbox(db: Client): Promise<{ inventory: number; accounting: number }> {
  const r = await db.query<{ inv: string; acc: string }>(`
    SELECT (SELECT count(*) FROM inventory.outbox WHERE status = 'pending') AS inv,
           (SELECT count(*) FROM accounting.outbox WHERE status = 'pending') AS acc`);
  return { inventory: n(r.rows[0]?.inv), accounting: n(r.rows[0]?.acc) };
}

/** Active reservations more than 5 s past their expiry (the sweep should have expired them). */
export async function overdueReservations(db: Client): Promise<number> {
  const r = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM inventory.reservations WHERE status = 'active' AND expires_at < now() - interval '5 seconds'`,
  );
  return n(r.rows[0]?.n);
}

/** Failed jobs by status (worker.failed_jobs). */
export async function failedJobs(db: Client): Promise<Record<string, number>> {
  const r = await db.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM worker.failed_jobs GROUP BY status`,
  );
  return Object.fromEntries(r.rows.map((x) => [x.status, n(x.n)]));
}

/** Final answers that the workload did not expect (a 4xx other than the expected refusals, or a 5xx). */
export function unexpectedAnswers(writes: WriteOp[]): { unexpected: WriteOp[]; gaveUp: WriteOp[] } {
  return {
    unexpected: writes.filter(
      (w) => w.outcome === 'rejected' && !(EXPECTED_REJECTIONS[w.kind] ?? []).includes(w.problem ?? ''),
    ),
    gaveUp: writes.filter((w) => w.outcome === 'unknown'),
  };
}
