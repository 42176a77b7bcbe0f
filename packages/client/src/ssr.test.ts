// Server-side rendering (Node, no EventSource): the bindings render without connecting.
import { createElement } from 'react';
import { renderToString as renderReact } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { createSSRApp, defineComponent, h } from 'vue';
import { renderToString as renderVue } from 'vue/server-renderer';
import { useSSE as useReactSSE } from './react.js';
import { useSSE as useVueSSE } from './vue.js';

describe('server-side rendering', () => {
  it('React: renders the initial status without an EventSource', () => {
    expect(globalThis.EventSource).toBeUndefined();
    function Panel() {
      return createElement('span', null, useReactSSE('/s').status);
    }
    expect(renderReact(createElement(Panel))).toBe('<span>connecting</span>');
  });

  it('Vue: renders the initial status without an EventSource', async () => {
    const Panel = defineComponent({
      setup() {
        const { status } = useVueSSE('/s');
        return () => h('span', status.value);
      },
    });
    expect(await renderVue(createSSRApp(Panel))).toBe('<span>connecting</span>');
  });
});
