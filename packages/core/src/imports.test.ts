import { describe, expect, it } from 'vitest';

declare global {
  interface ImportMeta {
    glob(
      patterns: string[],
      options: { query: string; import: string; eager: true },
    ): Record<string, unknown>;
  }
}

// The core is runtime-agnostic: its sources may import only each other (and types).
const sources = import.meta.glob(['./*.ts', '!./*.test.ts', '!./*.test-util.ts'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

describe('@ssehub/core imports nothing at runtime', () => {
  it('has sources to check', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(8);
  });

  it.each(Object.entries(sources))('%s imports only relative modules', (_file, text) => {
    const specifiers = [
      ...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm),
    ].map((m) => m[1]);
    for (const specifier of specifiers) expect(specifier).toMatch(/^\.\//);
    expect(text).not.toMatch(/\brequire\(|\bimport\(/);
    expect(text).not.toMatch(/['"]node:/);
  });
});
