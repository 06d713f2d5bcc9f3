import { randomBytes } from 'node:crypto';
import { type ApiClient, type CallOutcome, type Credentials, type Json } from './client';
import { Rng } from './rng';

/** Writes the workload performs; each is one logical operation with its own Idempotency-Key. */
export type WriteKind =
  | 'tenant'
  | 'warehouse'
  | 'product'
  | 'account'
  | 'receipt'
  | 'reservation'
  | 'commit'
  | 'release'
  | 'adjustment'
  | 'transfer'
  | 'journal_entry';

/** One logical write and what the client learnt about it. */
export interface WriteOp {
  /** Idempotency-Key, also the X-Request-Id prefix of its attempts and the marker stored in the document. */
  key: string;
  kind: WriteKind;
  tenantId: string;
  path: string;
  body: unknown;
  /** acked: a 2xx came back; rejected: a final 4xx/5xx; unknown: the client gave up retrying. */
  outcome: 'acked' | 'rejected' | 'unknown';
  status?: number;
  problem?: string;
  /** Id in the 2xx body (the reservation's id for commit/release). */
  id?: string;
  /** For commit/release: the reservation. */
  reservationId?: string;
  attempts: number;
  startedAt: number;
  endedAt: number;
}

/** A failed client-side check made while the workload ran. */
export interface Observation {
  at: number;
  what: string;
}

/** Everything the workload learnt, for the checks. */
export interface Ledger {
  writes: WriteOp[];
  /** Deliberate replays of acknowledged writes: same key and body again. */
  replays: { key: string; ok: boolean; detail: string }[];
  /** GETs of a resource the same user had just created (read-your-writes). */
  readYourWrites: { ok: boolean; detail: string }[];
  /** Live GET /v1/stock rows seen with reserved > on_hand, negative values, or available != on_hand - reserved. */
  liveStockViolations: Observation[];
  /** Live trial balances seen unbalanced. */
  liveTrialBalanceViolations: Observation[];
  liveReads: { stock: number; trialBalance: number };
  /** Races of commit against release of one reservation where both were acknowledged. */
  doubleClose: string[];
  /** Exceptions thrown inside a virtual client (a harness bug or an unparseable answer). */
  clientErrors: string[];
}

/** A tenant the workload creates and works in. */
export interface TenantFixture {
  index: number;
  id: string;
  slug: string;
  session: Session;
  warehouses: string[];
  products: string[];
  cashAccount: string;
  revenueAccount: string;
}

/** Expected final rejections per write kind (anything else is an unexpected answer). */
export const EXPECTED_REJECTIONS: Partial<Record<WriteKind, string[]>> = {
  reservation: ['insufficient-stock'],
  commit: ['conflict'],
  release: ['conflict'],
  adjustment: ['insufficient-stock'],
  transfer: ['insufficient-stock'],
};

/** Logs a user in and keeps the access token; renewals are shared by concurrent callers. */
export class Session implements Credentials {
  private current: string | undefined;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly client: ApiClient,
    readonly tenant: string,
    readonly email: string,
    private readonly password: string,
    private readonly label: string,
  ) {}

  token(): string | undefined {
    return this.current;
  }

  renew(): Promise<void> {
    this.renewing ??= this.login().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** Logs in (retrying 503s, e.g. while Redis is down); throws when it gets no token. */
  async login(): Promise<void> {
    const r = await this.client.call({
      method: 'POST',
      path: '/v1/auth/login',
      route: 'POST /v1/auth/login',
      body: { tenant: this.tenant, email: this.email, password: this.password },
      requestId: `chaos-login-${this.label}-${randomBytes(3).toString('hex')}`,
    });
    if (r.kind !== 'ok' || typeof r.body.access_token !== 'string')
      throw new Error(`login of ${this.email}@${this.tenant} failed: ${describe(r)}`);
    this.current = r.body.access_token;
  }
}

export function describe(r: CallOutcome): string {
  if (r.kind === 'ok') return `${r.status}`;
  if (r.kind === 'rejected') return `${r.status} ${r.problem ?? ''} ${JSON.stringify(r.body).slice(0, 300)}`;
  return `gave up after ${r.attempts} attempts (last: ${r.last})`;
}

const today = () => new Date().toISOString().slice(0, 10);

/** The mixed workload: setup of tenants through the API, then virtual clients until told to stop. */
export class Workload {
  readonly ledger: Ledger = {
    writes: [],
    replays: [],
    readYourWrites: [],
    liveStockViolations: [],
    liveTrialBalanceViolations: [],
    liveReads: { stock: 0, trialBalance: 0 },
    doubleClose: [],
    clientErrors: [],
  };
  readonly tenants: TenantFixture[] = [];
  private seq = 0;
  private stopping = false;

  constructor(
    private readonly client: ApiClient,
    private readonly runId: string,
    private readonly seed: number,
  ) {}

  private nextKey(label: string): string {
    return `chaos-${this.runId}-${label}-${++this.seq}`;
  }

  /** One logical write with retries; recorded in the ledger. */
  async write(
    kind: WriteKind,
    tenant: { id: string; session: Credentials },
    path: string,
    body: unknown,
    extra: { key?: string; reservationId?: string } = {},
  ): Promise<WriteOp> {
    const key = extra.key ?? this.nextKey(kind);
    const startedAt = Date.now();
    const r = await this.client.call({
      method: 'POST',
      path,
      route: `POST ${path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id')}`,
      body,
      idempotencyKey: key,
      requestId: key,
      credentials: tenant.session,
    });
    const op: WriteOp = {
      key,
      kind,
      tenantId: tenant.id,
      path,
      body,
      outcome: r.kind === 'ok' ? 'acked' : r.kind === 'rejected' ? 'rejected' : 'unknown',
      attempts: r.attempts,
      startedAt,
      endedAt: Date.now(),
      ...(extra.reservationId ? { reservationId: extra.reservationId } : {}),
    };
    if (r.kind !== 'gave-up') op.status = r.status;
    if (r.kind === 'rejected' && r.problem) op.problem = r.problem;
    if (r.kind === 'ok' && typeof r.body.id === 'string') op.id = r.body.id;
    this.ledger.writes.push(op);
    return op;
  }

  private async get(path: string, session: Credentials, label: string): Promise<CallOutcome> {
    return this.client.call({
      method: 'GET',
      path,
      route: `GET ${path.replace(/\?.*$/, '').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id')}`,
      requestId: this.nextKey(label),
      credentials: session,
    });
  }

  /**
   * Creates `count` tenants (platform admin), each with 2 warehouses, 3 products, 2 manual accounts and
   * opening stock. Runs before the faults start; throws if any step fails.
   */
  async setup(count: number, platform: Session): Promise<void> {
    const must = (op: WriteOp, what: string): string => {
      if (op.outcome !== 'acked' || !op.id)
        throw new Error(`setup: ${what} failed (${op.status ?? 'no answer'})`);
      return op.id;
    };
    const platformTenant = { id: 'platform', session: platform };
    for (let i = 0; i < count; i++) {
      const slug = `chaos-${this.runId}-${i}`;
      const email = `admin@${slug}.test`;
      const password = `chaos-${randomBytes(6).toString('hex')}`;
      const t = await this.write('tenant', platformTenant, '/v1/platform/tenants', {
        slug,
        name: `Chaos ${i}`,
        admin: { email, password },
      });
      const id = must(t, `tenant ${slug}`);
      const session = new Session(this.client, slug, email, password, `t${i}`);
      await session.login();
      const tenant = { id, session };
      const warehouses: string[] = [];
      for (const code of ['W1', 'W2'])
        warehouses.push(
          must(
            await this.write('warehouse', tenant, '/v1/warehouses', { code, name: `Warehouse ${code}` }),
            code,
          ),
        );
      const products: string[] = [];
      for (const sku of ['HOT-1', 'WARM-2', 'COLD-3'])
        products.push(must(await this.write('product', tenant, '/v1/products', { sku, name: sku }), sku));
      const cashAccount = must(
        await this.write('account', tenant, '/v1/accounts', { code: '1000', name: 'Cash', type: 'asset' }),
        'account 1000',
      );
      const revenueAccount = must(
        await this.write('account', tenant, '/v1/accounts', { code: '4000', name: 'Sales', type: 'revenue' }),
        'account 4000',
      );
      for (const w of warehouses) {
        const key = this.nextKey('receipt');
        must(
          await this.write(
            'receipt',
            tenant,
            '/v1/stock/receipts',
            {
              warehouse_id: w,
              reference: key,
              lines: products.map((p, j) => ({
                product_id: p,
                quantity: j === 0 ? 12 : 30,
                unit_cost: 100 * (j + 1),
              })),
            },
            { key },
          ),
          'opening receipt',
        );
      }
      this.tenants.push({ index: i, id, slug, session, warehouses, products, cashAccount, revenueAccount });
    }
  }

  /** Asks the clients to finish their current operation and stop. */
  stop(): void {
    this.stopping = true;
  }

  /** Runs `clients` virtual clients until {@link stop}; resolves when all have finished. */
  async run(clients: number): Promise<void> {
    await Promise.all(Array.from({ length: clients }, (_, vu) => this.client_(vu)));
  }

  private async client_(vu: number): Promise<void> {
    const rng = new Rng(this.seed + 7919 * (vu + 1));
    const tenant = this.tenants[vu % this.tenants.length]!;
    while (!this.stopping) {
      const op = rng.weighted({
        // Tuned so that stock hovers near zero: reservations race for the last units and some are refused.
        reserve: 36,
        receipt: 10,
        adjustment: 9,
        transfer: 9,
        journal: 15,
        replay: 7,
        read: 14,
      });
      try {
        await this.step(op, tenant, rng);
      } catch (err) {
        this.ledger.clientErrors.push(
          `client ${vu} ${op}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }

  private async step(op: string, t: TenantFixture, rng: Rng): Promise<void> {
    const warehouse = rng.pick(t.warehouses);
    const twoProducts = () => rng.shuffle(t.products).slice(0, rng.int(1, 2));
    switch (op) {
      case 'reserve':
        return this.reserveFlow(t, rng, warehouse, twoProducts());
      case 'receipt': {
        const key = this.nextKey('receipt');
        await this.write(
          'receipt',
          t,
          '/v1/stock/receipts',
          {
            warehouse_id: warehouse,
            reference: key,
            lines: twoProducts().map((p) => ({
              product_id: p,
              quantity: rng.int(2, 8),
              unit_cost: rng.int(80, 400),
            })),
          },
          { key },
        );
        return;
      }
      case 'adjustment': {
        const key = this.nextKey('adjustment');
        const delta = rng.int(1, 4) * (rng.chance(0.5) ? 1 : -1);
        await this.write(
          'adjustment',
          t,
          '/v1/stock/adjustments',
          { warehouse_id: warehouse, product_id: rng.pick(t.products), quantity_delta: delta, reason: key },
          { key },
        );
        return;
      }
      case 'transfer': {
        const key = this.nextKey('transfer');
        const [from, to] = rng.shuffle(t.warehouses);
        await this.write(
          'transfer',
          t,
          '/v1/stock/transfers',
          {
            from_warehouse_id: from,
            to_warehouse_id: to,
            reference: key,
            lines: [{ product_id: rng.pick(t.products), quantity: rng.int(1, 5) }],
          },
          { key },
        );
        return;
      }
      case 'journal': {
        const key = this.nextKey('journal_entry');
        const amount = rng.int(100, 100_000);
        await this.write(
          'journal_entry',
          t,
          '/v1/journal-entries',
          {
            date: today(),
            memo: key,
            lines: [
              { account_id: t.cashAccount, debit: amount, credit: 0 },
              { account_id: t.revenueAccount, debit: 0, credit: amount },
            ],
          },
          { key },
        );
        return;
      }
      case 'replay':
        return this.replay(t, rng);
      default:
        return this.read(t, rng, warehouse);
    }
  }

  private async reserveFlow(
    t: TenantFixture,
    rng: Rng,
    warehouse: string,
    products: string[],
  ): Promise<void> {
    const next = rng.weighted({ commit: 50, release: 14, race: 10, expire: 26 });
    const res = await this.write('reservation', t, '/v1/reservations', {
      warehouse_id: warehouse,
      lines: products.map((p) => ({ product_id: p, quantity: rng.int(1, 6) })),
      ttl_seconds: next === 'expire' ? rng.int(1, 6) : 120,
    });
    if (res.outcome !== 'acked' || !res.id) return;
    const id = res.id;
    if (rng.chance(0.4)) {
      const r = await this.get(`/v1/reservations/${id}`, t.session, 'read-reservation');
      if (r.kind === 'ok') {
        const ok = r.body.id === id;
        this.ledger.readYourWrites.push({
          ok,
          detail: ok ? '' : `GET reservation ${id} returned ${r.body.id as string}`,
        });
      } else if (r.kind === 'rejected') {
        this.ledger.readYourWrites.push({
          ok: false,
          detail: `GET reservation ${id} after 201: ${describe(r)}`,
        });
      }
    }
    const close = (action: 'commit' | 'release') =>
      this.write(action, t, `/v1/reservations/${id}/${action}`, {}, { reservationId: id });
    if (next === 'commit') await close('commit');
    else if (next === 'release') await close('release');
    else if (next === 'race') {
      const [c, r] = await Promise.all([close('commit'), close('release')]);
      if (c.outcome === 'acked' && r.outcome === 'acked') this.ledger.doubleClose.push(id);
    }
  }

  private async replay(t: TenantFixture, rng: Rng): Promise<void> {
    const candidates = this.ledger.writes
      .slice(-200)
      .filter((w) => w.outcome === 'acked' && w.tenantId === t.id && w.kind !== 'tenant');
    if (candidates.length === 0) return;
    const w = rng.pick(candidates);
    const r = await this.client.call({
      method: 'POST',
      path: w.path,
      route: 'POST (replay)',
      body: w.body,
      idempotencyKey: w.key,
      requestId: `${w.key}-replay-${++this.seq}`,
      credentials: t.session,
    });
    if (r.kind === 'gave-up') return;
    const problems: string[] = [];
    if (r.kind !== 'ok') problems.push(`answered ${describe(r)}`);
    else {
      if (r.status !== w.status) problems.push(`status ${r.status} instead of ${w.status}`);
      if (w.id !== undefined && r.body.id !== w.id)
        problems.push(`id ${String(r.body.id)} instead of ${w.id}`);
      if (!r.replayed) problems.push('no Idempotent-Replayed: true');
    }
    this.ledger.replays.push({
      key: w.key,
      ok: problems.length === 0,
      detail: problems.length ? `${w.kind} ${w.key}: ${problems.join(', ')}` : '',
    });
  }

  private async read(t: TenantFixture, rng: Rng, warehouse: string): Promise<void> {
    if (rng.chance(0.6)) {
      const r = await this.get(`/v1/stock?warehouse_id=${warehouse}`, t.session, 'read-stock');
      if (r.kind !== 'ok') return;
      this.ledger.liveReads.stock++;
      for (const row of (r.body.data as Json[] | undefined) ?? []) {
        const onHand = Number(row.on_hand);
        const reserved = Number(row.reserved);
        const available = Number(row.available);
        if (!(reserved >= 0 && reserved <= onHand && onHand >= 0 && available === onHand - reserved))
          this.ledger.liveStockViolations.push({ at: Date.now(), what: JSON.stringify(row) });
      }
      return;
    }
    const r = await this.get('/v1/trial-balance', t.session, 'read-trial-balance');
    if (r.kind !== 'ok') return;
    this.ledger.liveReads.trialBalance++;
    if (Number(r.body.total_debit) !== Number(r.body.total_credit))
      this.ledger.liveTrialBalanceViolations.push({
        at: Date.now(),
        what: `tenant ${t.slug}: debit ${String(r.body.total_debit)} credit ${String(r.body.total_credit)}`,
      });
  }
}
