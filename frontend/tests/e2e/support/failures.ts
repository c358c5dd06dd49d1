/**
 * Set up before every browser spec (vitest.e2e.config.ts): a failed test leaves what the
 * browsers showed at that moment, since the test's own message says only which wait ran out.
 */
import { afterEach } from 'vitest'

import { reportFailure } from './browser'

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') await reportFailure(context.task.name)
})
