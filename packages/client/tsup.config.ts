import { packageBuild } from '../../tsup.base';

export default packageBuild({
  // One entry per subpath export; react and vue stay external (peer dependencies).
  entry: ['src/index.ts', 'src/react.ts', 'src/vue.ts'],
  platform: 'browser',
  // Self-contained entries: a page can load dist/index.js as a plain ES module, no bundler.
  splitting: false,
});
