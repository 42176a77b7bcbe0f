/** How the client retries after the EventSource gave up. All optional. */
export interface ReconnectOptions {
  /** Delay before the first retry, in ms. Default 1000. */
  initialDelay?: number;
  /** Upper bound of the delay, in ms. Default 30000. */
  maxDelay?: number;
  /** Growth of the delay per failed attempt. Default 2. */
  factor?: number;
  /**
   * Share of the delay that is random, from 0 (none) to 1, so that many clients dropped at
   * once do not return at once. Default 0.5: the delay is between 50% and 100% of the nominal.
   */
  jitter?: number;
  /** Retries in a row without a successful open before giving up (`closed`). Default Infinity. */
  maxAttempts?: number;
}

const DEFAULTS: Required<ReconnectOptions> = {
  initialDelay: 1000,
  maxDelay: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/** `undefined` when reconnecting is off. */
export function resolveReconnect(
  option: boolean | ReconnectOptions | undefined,
): Required<ReconnectOptions> | undefined {
  if (option === false) return undefined;
  return { ...DEFAULTS, ...(option === true || option === undefined ? {} : option) };
}

/** The delay before retry number `attempt` (0-based): capped exponential, minus random jitter. */
export function backoffDelay(
  options: Required<ReconnectOptions>,
  attempt: number,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(options.maxDelay, options.initialDelay * options.factor ** attempt);
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(nominal * (1 - jitter * random()));
}

/**
 * The wait a refusal asks for: `Retry-After` (seconds or an HTTP date) of a 503 or 429, in ms,
 * at most an hour; `undefined` for any other answer.
 */
export function retryAfterOf(response: {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
}): number | undefined {
  if (response.status !== 503 && response.status !== 429) return undefined;
  const header = response.headers.get('retry-after')?.trim();
  if (!header) return undefined;
  const ms = /^\d+$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), 3_600_000);
}
