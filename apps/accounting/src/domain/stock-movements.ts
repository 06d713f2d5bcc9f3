import type { StockMovementPostingRequest } from '@kv/api-contract';

/** System account codes (contract): Inventory, GRNI, COGS, Inventory adjustments. */
export const ACCOUNT = { INVENTORY: '1300', GRNI: '2100', COGS: '5000', ADJUSTMENTS: '6100' } as const;

/** The two sides of a stock movement's posting, by system account code. */
export interface MovementPosting {
  debit: string;
  credit: string;
  amount: number;
}

/**
 * The contract's rules: receipt Dr 1300 / Cr 2100; shipment Dr 5000 / Cr 1300; adjustment gain Dr 1300 /
 * Cr 6100, loss Dr 6100 / Cr 1300; transfers and movements worth 0 post nothing (`null`).
 */
export function postingForMovement(payload: StockMovementPostingRequest['payload']): MovementPosting | null {
  const amount = payload.value;
  if (amount === 0) return null;
  switch (payload.type) {
    case 'receipt':
      return { debit: ACCOUNT.INVENTORY, credit: ACCOUNT.GRNI, amount };
    case 'shipment':
      return { debit: ACCOUNT.COGS, credit: ACCOUNT.INVENTORY, amount };
    case 'adjustment':
      if (payload.quantity > 0) return { debit: ACCOUNT.INVENTORY, credit: ACCOUNT.ADJUSTMENTS, amount };
      if (payload.quantity < 0) return { debit: ACCOUNT.ADJUSTMENTS, credit: ACCOUNT.INVENTORY, amount };
      return null;
    case 'transfer_in':
    case 'transfer_out':
      return null;
  }
}

/** Memo of a stock movement's entry. */
export function movementMemo(payload: StockMovementPostingRequest['payload']): string {
  const ref = payload.reference ? ` (${payload.reference})` : '';
  return `Stock ${payload.type} ${payload.movement_id}${ref}`.slice(0, 1000);
}
