import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkedEventText,
  encodeComment,
  encodeEvent,
  encodeRetry,
  formatEvent,
  serializeData,
  TickEncoder,
} from './encoding.js';
import { SSEError } from './errors.js';

const decoder = new TextDecoder();

function parse(bytes: Uint8Array) {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onRetry: (retry) => retries.push(retry),
    onComment: (comment) => comments.push(comment),
  });
  parser.feed(decoder.decode(bytes));
  return { events, retries, comments };
}

describe('formatEvent', () => {
  it('writes fields in order and ends with an empty line', () => {
    expect(formatEvent({ event: 'notification', id: '7', retry: 2500, data: 'hello' })).toBe(
      'event: notification\nid: 7\nretry: 2500\ndata: hello\n\n',
    );
  });

  it('splits data on CRLF, LF and lone CR', () => {
    expect(formatEvent({ data: 'a\r\nb\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps empty lines of data, including a trailing one', () => {
    expect(formatEvent({ data: 'a\n\nb\n' })).toBe('data: a\ndata: \ndata: b\ndata: \n\n');
    expect(parse(encodeEvent({ data: 'a\n\nb\n' })).events[0]?.data).toBe('a\n\nb\n');
  });

  it('serialises non-string data as JSON once', () => {
    expect(formatEvent({ data: { a: [1, 'x\ny'] } })).toBe('data: {"a":[1,"x\\ny"]}\n\n');
    expect(formatEvent({ data: null })).toBe('data: null\n\n');
    expect(formatEvent({ data: 0 })).toBe('data: 0\n\n');
  });

  it('keeps a leading space of the data (the parser strips only the one after the colon)', () => {
    expect(parse(encodeEvent({ data: '  two spaces' })).events[0]?.data).toBe('  two spaces');
  });

  it("writes an empty id as a bare field, which clears the browser's last event id", () => {
    expect(formatEvent({ id: '', data: 'x' })).toBe('id\ndata: x\n\n');
  });

  it.each([
    ['event', { event: 'a\nb', data: 1 }, 'invalid_event_name'],
    ['event', { event: 'a\rb', data: 1 }, 'invalid_event_name'],
    ['event', { event: 'a\0b', data: 1 }, 'invalid_event_name'],
    ['event', { event: '', data: 1 }, 'invalid_event_name'],
    ['id', { id: 'a\nb', data: 1 }, 'invalid_event_id'],
    ['id', { id: 'a\0', data: 1 }, 'invalid_event_id'],
    ['retry', { retry: -1, data: 1 }, 'invalid_retry'],
    ['retry', { retry: 1.5, data: 1 }, 'invalid_retry'],
  ])('rejects a bad %s with a clear error', (_field, event, code) => {
    expect(() => formatEvent(event)).toThrow(SSEError);
    try {
      formatEvent(event);
    } catch (error) {
      expect((error as SSEError).code).toBe(code);
      expect((error as SSEError).message).toMatch(/CR|LF|NUL|non-empty|integer/);
    }
  });

  it('rejects unserialisable data: cycles, BigInt, functions', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const data of [cyclic, 10n, () => 1, Symbol('x'), undefined]) {
      expect(() => serializeData(data)).toThrow(SSEError);
    }
  });
});

describe('comments and retry', () => {
  it('encodes comments line by line and an empty comment as a bare colon', () => {
    expect(decoder.decode(encodeComment())).toBe(':\n\n');
    expect(decoder.decode(encodeComment('a\nb'))).toBe(': a\n: b\n\n');
    const parsed = parse(encodeComment('ping'));
    expect(parsed.events).toHaveLength(0);
    expect(parsed.comments).toEqual(['ping']);
  });

  it('encodes retry', () => {
    expect(parse(encodeRetry(1234)).retries).toEqual([1234]);
    expect(() => encodeRetry(-5)).toThrow(SSEError);
  });
});

describe('property: what eventsource-parser reads back is exactly what was encoded', () => {
  const anyText = fc.string({ unit: 'binary', maxLength: 200 });
  const withBreaks = fc
    .array(fc.oneof(anyText, fc.constantFrom('\r', '\n', '\r\n', '\0', '\uFEFF', '😀', '\u2028')), {
      maxLength: 12,
    })
    .map((parts) => parts.join(''));
  const fieldText = anyText.filter((s) => !/[\r\n\0]/.test(s));

  it('round-trips arbitrary unicode data, types and ids', () => {
    fc.assert(
      fc.property(
        withBreaks,
        fc.option(
          fieldText.filter((s) => s.length > 0),
          { nil: undefined },
        ),
        fc.option(fieldText, { nil: undefined }),
        (data, event, id) => {
          const { events } = parse(encodeEvent({ event, id, data }));
          expect(events).toHaveLength(1);
          // The parser reports CRLF and lone CR line ends as LF, as browsers do.
          expect(events[0]!.data).toBe(data.replace(/\r\n|\r/g, '\n'));
          expect(events[0]!.event).toBe(event);
          expect(events[0]!.id).toBe(id);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('round-trips arbitrary JSON values', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((v) => typeof v !== 'string'),
        (value) => {
          const { events } = parse(encodeEvent({ event: 'json', data: value }));
          expect(JSON.parse(events[0]!.data)).toEqual(JSON.parse(JSON.stringify(value)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps a stream of many events separate', () => {
    fc.assert(
      fc.property(fc.array(withBreaks, { minLength: 1, maxLength: 20 }), (datas) => {
        const chunks = datas.map((data, i) => decoder.decode(encodeEvent({ id: String(i), data })));
        const { events } = parse(new TextEncoder().encode(chunks.join('')));
        expect(events.map((e) => e.data)).toEqual(datas.map((d) => d.replace(/\r\n|\r/g, '\n')));
        expect(events.map((e) => e.id)).toEqual(datas.map((_, i) => String(i)));
      }),
    );
  });
});

describe('checked event text', () => {
  const field = fc.string().filter((text) => !/[\r\n\0]/.test(text));
  it('is the text formatEvent writes for the same fields', () => {
    fc.assert(
      fc.property(
        fc.option(
          field.filter((name) => name.length > 0),
          { nil: undefined },
        ),
        field.filter((id) => id.length > 0),
        fc.option(fc.nat(), { nil: undefined }),
        fc.string(),
        (event, id, retry, data) => {
          const text = checkedEventText({ event, id, retry, data });
          expect(text).toBe(formatEvent({ event, id, retry, data }));
          if (!/[\r\n]/.test(data)) {
            expect(checkedEventText({ event, id, retry, data }, true)).toBe(text);
          }
        },
      ),
    );
  });
});

describe('TickEncoder', () => {
  it('encodes like TextEncoder, each result its own bytes, in shared blocks', () => {
    const encoder = new TickEncoder();
    const texts = Array.from(
      { length: 3000 },
      (_, i) => `id: ${i}\ndata: ${'é€😀x'.repeat(i % 40)}\n\n`,
    );
    const views = texts.map((text) => encoder.encode(text));
    const reference = new TextEncoder();
    for (const [i, view] of views.entries()) expect(view).toEqual(reference.encode(texts[i]));
    expect(new Set(views.map((view) => view.buffer)).size).toBeLessThan(views.length / 100);
    expect(encoder.encoded).toBe(3000);
  });
  it('writes over its blocks from the start after release()', () => {
    const encoder = new TickEncoder();
    const first = encoder.encode('first');
    encoder.release();
    const second = encoder.encode('again');
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    expect(new TextDecoder().decode(first)).toBe('again');
  });
  it('keeps the blocks a recent tick needed, and lets go of the rest at trim()', () => {
    const encoder = new TickEncoder();
    const tick = (events: number) => {
      const views = Array.from({ length: events }, () => encoder.encode('y'.repeat(1000)));
      encoder.release();
      return new Set(views.map((view) => view.buffer));
    };
    const big = tick(600); // ~600 KB: three blocks
    expect(big.size).toBe(3);
    encoder.trim(); // the big tick was since the last trim: its blocks stay
    expect(tick(600)).toEqual(big);
    encoder.trim();
    tick(10); // quiet since
    encoder.trim();
    const after = tick(600);
    expect([...after].filter((buffer) => big.has(buffer))).toHaveLength(1);
  });
  it('gives long text a buffer of its own', () => {
    const view = new TickEncoder().encode('x'.repeat(10_000));
    expect(view.byteLength).toBe(10_000);
    expect(view.buffer.byteLength).toBe(10_000);
  });
});
