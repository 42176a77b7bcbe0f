import { describe, expect, it } from 'vitest';
import * as adapter from './adapter.js';
import * as root from './index.js';

// What each entry holds at runtime (types are checked by the packages that import them).
describe('entries', () => {
  it('the root holds what apps use, and no internals', () => {
    expect(Object.keys(root).sort()).toEqual([
      'EventValidationError',
      'Hub',
      'JwtError',
      'MemoryHistory',
      'SSEError',
      'asyncApiDocument',
      'collectMetrics',
      'configFromEnv',
      'defineEvents',
      'eventWithId',
      'formatMetrics',
      'newEvent',
      'promClientCollector',
      'signJwt',
      'typedEvent',
      'verifyJwt',
    ]);
  });

  it('@ssehub/core/adapter holds the request handler, sinks and encoding', () => {
    expect(Object.keys(adapter).sort()).toEqual([
      'BodyTooLargeError',
      'assertEventId',
      'assertEventName',
      'createHandler',
      'createStreamSink',
      'encodeComment',
      'encodeEvent',
      'encodeRetry',
      'formatEvent',
      'jsonError',
      'notFoundResponse',
      'serializeData',
      'serverErrorResponse',
    ]);
  });
});
