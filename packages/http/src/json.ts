import express, { type RequestHandler } from 'express';

/** Maximum JSON body: 1 MiB (contract: bigger is 413 `payload-too-large`). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * JSON body parser for the API: 1 MiB limit, any JSON value accepted (schemas decide what is valid), and
 * `application/*+json` too. Errors reach {@link errorHandler} as 400/413.
 */
export function jsonBody(limitBytes = MAX_BODY_BYTES): RequestHandler {
  return express.json({ limit: limitBytes, strict: false, type: ['application/json', 'application/*+json'] });
}
