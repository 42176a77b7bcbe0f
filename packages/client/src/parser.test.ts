import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStreamParser, type StreamEvent } from './parser.js';

interface Parsed {
  events: StreamEvent[];
  retries: number[];
  comments: string[];
  parser: EventStreamParser;
}

/** Parses `chunks` in order with a fresh parser. */
function parse(chunks: string[] | string, lastEventId?: string): Parsed {
  const out: Parsed = { events: [], retries: [], comments: [] } as unknown as Parsed;
  out.parser = new EventStreamParser(
    {
      onEvent: (event) => out.events.push(event),
      onRetry: (ms) => out.retries.push(ms),
      onComment: (comment) => out.comments.push(comment),
    },
    lastEventId,
  );
  for (const chunk of typeof chunks === 'string' ? [chunks] : chunks) out.parser.feed(chunk);
  return out;
}

const message = (data: string, lastEventId = '', type = 'message'): StreamEvent => ({
  type,
  data,
  lastEventId,
});

describe('the WHATWG event stream format', () => {
  it("the standard's examples", () => {
    // "the first block fires events with the data set to the string "first event""...
    expect(
      parse('data: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n').events,
    ).toEqual([message('first event', '1'), message('second event', ''), message(' third event')]);
    // Two events: a lone "data" dispatches "", "data\ndata" dispatches "\n"; the last is not complete.
    expect(parse('data\n\ndata\ndata\n\ndata:').events).toEqual([message(''), message('\n')]);
    // A field without a colon and one with a colon mean the same: two identical events.
    expect(parse('data:test\n\ndata: test\n\n').events).toEqual([message('test'), message('test')]);
    expect(parse('data: YHOO\ndata: +2\ndata: 10\n\n').events).toEqual([message('YHOO\n+2\n10')]);
  });

  it('ends lines at CRLF, LF or CR, also when a CRLF is cut between chunks', () => {
    const expected = [message('a\nb'), message('c')];
    expect(parse('data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n').events).toEqual(expected);
    expect(parse('data: a\rdata: b\r\rdata: c\r\r').events).toEqual(expected);
    expect(parse('data: a\ndata: b\r\n\rdata: c\n\r').events).toEqual(expected);
    expect(parse(['data: a\r', '\ndata: b\r', '\n\r', '\ndata: c\r\n', '\r', '\n']).events).toEqual(
      expected,
    );
    // A CR ends the line at once: the event is dispatched without waiting for the next chunk.
    const { events } = parse(['data: now\r\r']);
    expect(events).toEqual([message('now')]);
  });

  it('skips one BOM at the start of the stream, and only there', () => {
    expect(parse('\uFEFFdata: x\n\n').events).toEqual([message('x')]);
    expect(parse(['\uFEFF', 'data: x\n\n']).events).toEqual([message('x')]);
    // A second BOM is part of the field name: an unknown field, ignored.
    expect(parse('\uFEFF\uFEFFdata: x\n\ndata: y\n\n').events).toEqual([message('y')]);
    expect(parse('data: \uFEFFx\n\n').events).toEqual([message('\uFEFFx')]);
  });

  it('event names the type; empty or missing is message; it does not carry to the next event', () => {
    expect(
      parse('event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\nevent\ndata: 4\n\n').events,
    ).toEqual([message('1', '', 'add'), message('2'), message('3'), message('4')]);
  });

  it('removes one space after the colon, no more, and no other whitespace', () => {
    expect(parse('data:  two\n\ndata:\ttab\n\nevent:  spaced\ndata: x \n\n').events).toEqual([
      message(' two'),
      message('\ttab'),
      message('x ', '', ' spaced'),
    ]);
  });

  it('id: carries to later events, is set even by an event without data, ignores NUL', () => {
    const { events, parser } = parse(
      'id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid: 3\u00004\ndata: d\n\nid\ndata: e\n\n',
    );
    expect(events).toEqual([
      message('a', '1'),
      message('b', '1'),
      message('c', '2'),
      message('d', '2'),
      message('e', ''),
    ]);
    expect(parser.lastEventId).toBe('');
    // An id only takes effect at the blank line.
    expect(parse('data: a\n\nid: 9\ndata: b').parser.lastEventId).toBe('');
  });

  it('starts from the given last event id; reset() drops the unfinished event and its id', () => {
    const { events, parser } = parse('data: a\n\n', '41');
    expect(events).toEqual([message('a', '41')]);
    const more: StreamEvent[] = [];
    const p = new EventStreamParser({ onEvent: (e) => more.push(e) }, '41');
    p.feed('id: 42\ndata: b\n\nid: 43\ndata: cut');
    p.reset();
    p.feed('\uFEFFdata: c\n\n');
    expect(more).toEqual([message('b', '42'), message('c', '42')]);
    expect(parser.lastEventId).toBe('41');
  });

  it('retry: only ASCII digits set the reconnection time', () => {
    const { retries, events } = parse(
      'retry: 1500\n\nretry: 1.5\nretry: -1\nretry: 10ms\nretry:\nretry: ٣\nretry:0\n\n',
    );
    expect(retries).toEqual([1500, 0]);
    expect(events).toEqual([]);
  });

  it('reports comments and ignores unknown fields and lines without a field', () => {
    const { events, comments } = parse(': heartbeat\n:\nfoo: bar\nDATA: no\nData: no\n\n');
    expect(comments).toEqual([' heartbeat', '']);
    expect(events).toEqual([]);
  });

  it('handles a stream cut at every position the same', () => {
    const stream =
      '\uFEFFretry: 20\r\n: hi\r\nevent: tick\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata\rdata: é😀\n\n';
    const whole = parse(stream);
    expect(whole.events).toHaveLength(2);
    for (let cut = 0; cut <= stream.length; cut++) {
      const split = parse([stream.slice(0, cut), stream.slice(cut)]);
      expect(split.events, `cut at ${cut}`).toEqual(whole.events);
      expect(split.retries).toEqual([20]);
    }
  });
});

describe('against eventsource-parser (property test)', () => {
  const lineEnd = fc.constantFrom('\n', '\r', '\r\n');
  const value = fc
    .array(fc.constantFrom(' ', 'a', 'b', '0', '9', ':', '\0', 'é'), { maxLength: 6 })
    .map((chars) => chars.join(''));
  const line = fc.oneof(
    fc.constant(''),
    value.map((v) => `data:${v}`),
    value.map((v) => `data: ${v}`),
    fc.constant('data'),
    fc.constantFrom('event: add', 'event:', 'event', 'event: x y'),
    value.map((v) => `id: ${v}`),
    fc.constant('id'),
    fc.constantFrom('retry: 100', 'retry: 5x', 'retry:0', 'retry'),
    value.map((v) => `:${v}`),
    value.map((v) => `other: ${v}`),
  );
  const stream = fc.array(fc.tuple(line, lineEnd), { maxLength: 30 });

  it('dispatches the same events and retries, for any cut of the stream', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 6 }), (lines, cuts) => {
        let text = lines.map(([l, end]) => l + end).join('');
        // eventsource-parser holds a final CR back until it sees what follows; end the stream.
        if (text.endsWith('\r')) text += '\n';
        const positions = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort(
          (a, b) => a - b,
        );
        const chunks: string[] = [];
        let from = 0;
        for (const at of positions) {
          chunks.push(text.slice(from, at));
          from = at;
        }
        chunks.push(text.slice(from));

        const ours = parse(chunks);
        const theirs: { type: string; data: string; id: string | undefined }[] = [];
        const theirRetries: number[] = [];
        const reference = createParser({
          onEvent: (e) => theirs.push({ type: e.event ?? 'message', data: e.data, id: e.id }),
          onRetry: (ms) => theirRetries.push(ms),
        });
        for (const chunk of chunks) reference.feed(chunk);

        expect(ours.events.map(({ type, data }) => ({ type, data }))).toEqual(
          theirs.map(({ type, data }) => ({ type, data })),
        );
        // eventsource-parser reports an event's own id; ours is the stream's last event id,
        // which is that id whenever the event carried one.
        ours.events.forEach((event, i) => {
          const id = theirs[i]!.id;
          if (id !== undefined) expect(event.lastEventId).toBe(id);
        });
        expect(ours.retries).toEqual(theirRetries);
      }),
      { numRuns: 300 },
    );
  });
});
