import type { Logger } from '@kv/logger';
import type { QueueName, JobData, WorkerJob } from '../queues/queues';
import { PermanentError } from './errors';
import type { ServiceClient } from './service-client';
import type { WorkerMetrics } from './worker-metrics';

/** What a handler gets besides the job data. Runs inside the job tenant's context. */
export interface HandlerContext {
  job: WorkerJob;
  queue: QueueName;
  /** Request id of this attempt, propagated to the services it calls. */
  requestId: string;
  /** Aborted when the worker shuts down without waiting. */
  signal: AbortSignal;
  logger: Logger;
}

/** One job type. */
export interface JobHandler {
  run(data: JobData, ctx: HandlerContext): Promise<unknown>;
}

/** Handlers by job name. */
export type HandlerRegistry = Record<string, JobHandler>;

/** Where the relay sends each outbox topic: queue and job name. Topics not listed here have no consumer. */
export const TOPIC_ROUTES: Readonly<Record<string, { queue: QueueName; jobName: string }>> = {
  'inventory.stock_movement': { queue: 'high', jobName: 'stock-movement' },
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Accounting's answer to a stock movement posting. */
interface PostingAnswer {
  entry_id: string | null;
  duplicate: boolean;
}

function isPostingAnswer(v: unknown): v is PostingAnswer {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.entry_id === null || (typeof o.entry_id === 'string' && UUID_RE.test(o.entry_id))) &&
    typeof o.duplicate === 'boolean'
  );
}

/**
 * `inventory.stock_movement` → accounting `POST /internal/events/stock-movement` `{event_id, payload}` with
 * a service identity of the event's tenant. Accounting applies each event id at most once (processed_events
 * row in the posting's transaction), so redeliveries are answered `duplicate: true` and change nothing.
 * Marking the outbox row done is the processor's job, after this returns.
 */
export function stockMovementHandler(accounting: ServiceClient, metrics: WorkerMetrics): JobHandler {
  return {
    async run(data, ctx) {
      if (!data.eventId) throw new PermanentError('stock movement job without event id');
      const payloadTenant = data.payload.tenant_id;
      if (payloadTenant !== data.tenantId) {
        throw new PermanentError('stock movement payload names another tenant than its outbox row');
      }
      const answer = await accounting.post(
        '/internal/events/stock-movement',
        { event_id: data.eventId, payload: data.payload },
        { tenantId: data.tenantId, requestId: ctx.requestId, signal: ctx.signal },
      );
      if (!isPostingAnswer(answer)) throw new PermanentError('accounting answered an unexpected body');
      metrics.postings.inc({
        result: answer.duplicate ? 'duplicate' : answer.entry_id ? 'posted' : 'nothing',
      });
      return answer;
    },
  };
}
