import type { McpsClient } from './client'

/** A group of related API calls, e.g. `client.tokens`. */
export abstract class APIResource {
  constructor(protected readonly client: McpsClient) {}
}

/** The query parameter for read-your-writes, left out when not asked for. */
export function waitFor(options?: { wait_for?: number }): { wait_for?: number } {
  return options?.wait_for === undefined ? {} : { wait_for: options.wait_for }
}
