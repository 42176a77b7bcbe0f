// The `express4` devDependency (npm:express@4) is only used by the Express 4 test.
declare module 'express4';
