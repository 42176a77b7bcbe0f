/**
 * Why an operation of ssehub failed. Stable strings, safe to switch on.
 */
export type SSEErrorCode =
  | 'invalid_event_name'
  | 'invalid_event_id'
  | 'invalid_retry'
  | 'unserializable_data'
  | 'invalid_target'
  | 'hub_closed';

/** The error ssehub throws for bad input; nothing was written when it is thrown. */
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
