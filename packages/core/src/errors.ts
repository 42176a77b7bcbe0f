/**
 * Why an operation of ssehub failed. Stable strings, safe to switch on.
 */
export type SSEErrorCode =
  | 'invalid_event_name'
  | 'invalid_event_id'
  | 'invalid_retry'
  | 'unserializable_data'
  | 'invalid_target'
  | 'hub_closed'
  /** The event's data does not match its schema in the hub's catalog (`EventValidationError`). */
  | 'invalid_event_data'
  /** The event's name is not in the catalog of a hub with `refuseUnknownEvents`. */
  | 'unknown_event'
  /**
   * A hub with a broker refused a send or disconnect because the broker is down (or committing
   * the send to it failed): nothing was delivered, on any node. Retry later; HTTP answers 503.
   */
  | 'broker_unavailable';

/**
 * The error ssehub throws for bad input, a closed hub or an unavailable broker; nothing was
 * written when it is thrown.
 */
export class SSEError extends Error {
  override readonly name = 'SSEError';
  constructor(
    readonly code: SSEErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
