// `node --import @keruj/guest/register-ts --test test/*.test.ts`: node 20
// runs TypeScript tests (an app's tests of an app written in TypeScript)
// through the hooks in ts-hooks.js, with the esbuild the SDK already has.

import { register } from 'node:module';

register('./ts-hooks.js', import.meta.url);
