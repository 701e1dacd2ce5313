// Job type `js_greet`: a handler written in JavaScript, built into a component by
// componentize-js (see ../README.md).
//
// The payload is checked against the JSON Schema declared in `describe` when the job is
// enqueued, so `run` only sees payloads of the right shape. `{"name": "later"}` stands for
// a transient failure (retried with backoff), `{"name": "mallory"}` for a permanent one
// (the job goes to the dead-letter queue at once), and `{"name": "crash"}` for a bug: an
// uncaught exception ends the attempt as a crash, its message in the job's error.

import { log } from 'jobhost:plugin/host@0.1.0';

const SCHEMA = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    shout: { type: 'boolean' },
  },
  additionalProperties: false,
};

export const handler = {
  describe() {
    return {
      name: 'js_greet',
      version: '1.0.0',
      jobTypes: [
        {
          name: 'js_greet',
          payloadSchema: JSON.stringify(SCHEMA),
          // Every limit left out (undefined) takes the host's default.
          limits: { maxAttempts: 3 },
          // No payload fields make a default unique key.
          uniqueKeyFields: [],
        },
      ],
      schedules: [],
    };
  },

  // Returning a string is `ok`; throwing a `job-error` variant is `err`.
  run(job) {
    const { name, shout } = JSON.parse(job.payload);
    if (name === 'later') {
      // A transient failure: the host retries while attempts remain.
      throw { tag: 'retry', val: `not yet (attempt ${job.attempt} of ${job.maxAttempts})` };
    }
    if (name === 'mallory') {
      // A permanent failure: no retry, the job is dead-lettered now.
      throw { tag: 'fail', val: 'mallory is never greeted' };
    }
    if (name === 'crash') {
      // Not a job-error variant: the component traps, and the host records a crash.
      throw new Error('js_greet crashed on purpose');
    }
    let greeting = `hello, ${name}`;
    if (shout) {
      greeting = `${greeting.toUpperCase()}!`;
    }
    log('info', `greeting ${name} from JavaScript`);
    return JSON.stringify({ greeting, language: 'javascript' });
  },
};
