import { packageBuild } from '../../tsup.base';

// Two entries share one copy of each module (CommonJS too): the handler's `instanceof SSEError`
// must see the class the hub threw.
export default packageBuild({ entry: ['src/index.ts', 'src/adapter.ts'], splitting: true });
