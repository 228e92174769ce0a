// Failure messages and stack traces are plaintext in history unless the failure converter moves them
// into `encodedAttributes`, which then passes the codec. The SDK loads it by path in two places: the
// worker bundles it into the workflow sandbox, and worker and client require() it. CommonJS, so that
// require() works without a TypeScript loader.
'use strict';
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
