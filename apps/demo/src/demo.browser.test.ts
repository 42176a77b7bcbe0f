/**
 * The demo page in real Chromium (Debian's, driven by playwright-core): three users on the demo
 * server, the send modes, task progress, and a server-side kick with replay. Leaves a screenshot
 * of the dashboard in `artifacts/dashboard.png` (ignored by git).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM_ARGS, type DemoProcess, ensureChromium, startDemo } from './test-support.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');
const executablePath = ensureChromium();

describe.skipIf(executablePath === undefined)('the demo page in Chromium', () => {
  let demo: DemoProcess;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  let carol: Page;
  const run = Math.random().toString(36).slice(2, 8);

  const open = async (group: string, id: string): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error(`[${id}] page error:`, error));
    page.on('console', (message) => {
      if (message.type() === 'error') console.error(`[${id}] console:`, message.text());
    });
    await page.goto(`${demo.url}/?group=${group}&id=${id}`);
    await expectStatus(page, 'connected');
    return page;
  };

  /** Sends from a page's send panel, as a person would. */
  const send = async (
    page: Page,
    mode: 'unicast' | 'group' | 'broadcast',
    target: { group?: string; id?: string },
    event: string,
    data: unknown,
  ): Promise<string> => {
    await page.getByTestId(`mode-${mode}`).check();
    // The panel disables the fields a mode does not use.
    if (mode !== 'broadcast') await page.getByTestId('send-group').fill(target.group ?? '');
    if (mode === 'unicast') await page.getByTestId('send-id').fill(target.id ?? '');
    await page.getByTestId('send-event').selectOption(event);
    await page.getByTestId('send-data').fill(JSON.stringify(data));
    const result = page.getByTestId('send-result');
    await result.evaluate((element) => {
      element.textContent = '';
    });
    await page.getByTestId('send').click();
    await expect.poll(() => result.textContent(), { timeout: 5_000 }).toMatch(/delivered|Failed/);
    return (await result.textContent()) ?? '';
  };

  const notifications = (page: Page) => page.getByTestId('notifications').innerText();

  beforeAll(async () => {
    demo = await startDemo();
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
    alice = await open('challenge_42', 'alice');
    bob = await open('challenge_42', 'bob');
    carol = await open('challenge_7', 'carol');
  });

  afterAll(async () => {
    await browser?.close();
    const code = await demo?.stop();
    expect(code).toBe(0);
  });

  test('presence and the leaderboard follow the group', async () => {
    await expect
      .poll(() => alice.getByTestId('presence').innerText(), { timeout: 5_000 })
      .toMatch(/alice[\s\S]*bob/);
    await expect.poll(() => carol.getByTestId('presence').innerText()).toBe('carol');
    // The challenge simulator's rank_update lists every player of the group.
    await expect
      .poll(() => alice.getByTestId('leaderboard').innerText(), { timeout: 5_000 })
      .toMatch(/bob/);
    await expect.poll(() => bob.getByTestId('leaderboard').innerText()).toMatch(/alice/);
    await expect(carol.getByTestId('leaderboard').innerText()).resolves.not.toMatch(/alice|bob/);
  });

  test('unicast reaches only its user, group only the group, broadcast everyone', async () => {
    const unicast = `unicast-${run}`;
    const group = `group-${run}`;
    const broadcast = `broadcast-${run}`;
    const to = { group: 'challenge_42', id: 'bob' };
    expect(
      await send(alice, 'unicast', to, 'notification', { title: 'Psst', content: unicast }),
    ).toContain('delivered to 1 connection');
    expect(
      await send(alice, 'group', to, 'notification', { title: 'Team', content: group }),
    ).toContain('delivered to 2 connections');
    expect(await send(alice, 'broadcast', {}, 'system', { message: broadcast })).toContain(
      'delivered to 3 connections',
    );

    // One stream per page, in send order: once a page has the broadcast, it has everything
    // earlier that was meant for it.
    for (const page of [alice, bob, carol]) {
      await expect.poll(() => notifications(page), { timeout: 5_000 }).toContain(broadcast);
    }
    const [a, b, c] = await Promise.all([alice, bob, carol].map(notifications));
    expect(b).toContain(unicast);
    expect(b).toContain(group);
    expect(a).toContain(group);
    expect(a).not.toContain(unicast);
    expect(c).not.toContain(unicast);
    expect(c).not.toContain(group);
  });

  test('a task pushes its progress until the bar is full', async () => {
    await alice.getByTestId('start-task').click();
    await expect
      .poll(() => alice.getByTestId('progress-text').textContent(), { timeout: 10_000 })
      .toBe('100 %');
    expect(await alice.getByTestId('progress').getAttribute('aria-valuenow')).toBe('100');
    expect(await alice.getByTestId('task-label').textContent()).toMatch(/Done/);
    // Progress goes to its user only.
    expect(await bob.getByTestId('progress-text').textContent()).toBe('0 %');
  });

  test('after a server-side kick the page reconnects and shows what it missed, replayed', async () => {
    const missed = `while-away-${run}`;
    await alice.getByTestId('kick').click();
    await expectStatus(alice, 'reconnecting');
    // Bob sends while alice is away: nobody receives it now...
    expect(
      await send(bob, 'unicast', { group: 'challenge_42', id: 'alice' }, 'notification', {
        title: 'While you were away',
        content: missed,
      }),
    ).toContain('delivered to 0 connections');
    // ...and alice gets it by replay once the browser is back (after the server's retry delay).
    await expectStatus(alice, 'connected', 10_000);
    const replayed = alice.locator('[data-testid="log"] [data-replayed="true"]', {
      hasText: missed,
    });
    await expect.poll(() => replayed.count(), { timeout: 5_000 }).toBe(1);
    expect(await notifications(alice)).toContain(missed);
    const summary = alice.getByTestId('replay-summary');
    await expect.poll(() => summary.isVisible()).toBe(true);
    expect(Number(await summary.getAttribute('data-count'))).toBeGreaterThanOrEqual(1);
    // Bob saw alice leave and come back.
    await expect
      .poll(() => bob.getByTestId('presence').innerText(), { timeout: 5_000 })
      .toMatch(/alice/);

    // Let the stats chart collect a few seconds, then keep a picture for people to look at.
    await expect
      .poll(() => alice.getByTestId('stat-clients').textContent(), { timeout: 5_000 })
      .toBe('3');
    await expect
      .poll(
        async () => (await alice.locator('.chart-line').getAttribute('points'))?.split(' ').length,
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThanOrEqual(8);
    mkdirSync(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });
});

/** Waits for the status badge (usable in hooks, unlike expect.poll). */
async function expectStatus(page: Page, status: string, timeout = 10_000): Promise<void> {
  await page.locator(`[data-testid="status"][data-status="${status}"]`).waitFor({ timeout });
}

describe.skipIf(executablePath === undefined)(
  'the page with SSE_SECRET and SSE_PUBLISH_KEY',
  () => {
    let demo: DemoProcess;
    let browser: Browser;

    beforeAll(async () => {
      demo = await startDemo({ SSE_SECRET: 'browser-secret', SSE_PUBLISH_KEY: 'browser-key' });
      browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
    });

    afterAll(async () => {
      await browser?.close();
      await demo?.stop();
    });

    test('connects with a token, sends and kicks through the demo proxy, never sees the key', async () => {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      const requests: string[] = [];
      page.on('request', (request) => {
        requests.push(`${request.url()} ${JSON.stringify(request.headers())}`);
      });
      await page.goto(`${demo.url}/?group=challenge_9&id=dana`);
      await expectStatus(page, 'connected');
      expect(await page.getByTestId('notice').textContent()).toMatch(/token/);
      expect(requests.some((line) => /\/stream\/challenge_9\/dana\?token=/.test(line))).toBe(true);

      await page.getByTestId('send-data').fill('{"title":"Self","content":"keyed-send"}');
      await page.getByTestId('send').click();
      await expect
        .poll(() => page.getByTestId('notifications').innerText(), { timeout: 5_000 })
        .toContain('keyed-send');
      await expect
        .poll(() => page.getByTestId('stat-clients').textContent(), { timeout: 5_000 })
        .toBe('1');

      await page.getByTestId('kick').click();
      await expectStatus(page, 'reconnecting');
      await expectStatus(page, 'connected', 10_000);
      expect(requests.join('\n')).not.toContain('browser-key');
      expect(await page.content()).not.toContain('browser-key');
    });
  },
);
