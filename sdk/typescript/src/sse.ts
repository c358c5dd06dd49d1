/**
 * Server-sent events read from a response body (the WHATWG "event stream" format). Browsers'
 * `EventSource` cannot send an `Authorization` header, so streamed endpoints are read through
 * the client's own transport and parsed here.
 */

/** One dispatched event: its type (`message` when unnamed), data lines joined, and id. */
export interface ServerSentEvent {
  event: string
  data: string
  id: string | undefined
}

/**
 * The events of an SSE stream, in order, until it ends. Comments (`: keep-alive`) and
 * `retry:` lines are skipped; an event without data is not dispatched, as in the spec.
 * Once `signal` aborts, no further event is given (even one already received) and the
 * stream throws the abort's reason: a body that goes on arriving must not outlive it.
 */
export async function* readEventStream(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  const parser = new EventStreamParser()
  try {
    for (;;) {
      signal?.throwIfAborted()
      const { value, done } = await reader.read()
      if (done) break
      for (const event of parser.push(decoder.decode(value, { stream: true }))) {
        signal?.throwIfAborted()
        yield event
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined)
    reader.releaseLock()
  }
}

/** Incremental parser: feed text chunks as they arrive, get the events they complete. */
export class EventStreamParser {
  #buffer = ''
  #event = ''
  #data: string[] = []
  #id: string | undefined = undefined
  #started = false;

  /**
   * The events completed by `chunk`. What is left when the stream ends was never completed
   * by a blank line and, as the spec says, is not dispatched.
   */
  *push(chunk: string): Generator<ServerSentEvent, void, undefined> {
    let text = this.#buffer + chunk
    if (!this.#started && text.length > 0) {
      this.#started = true
      if (text.startsWith('\uFEFF')) text = text.slice(1)
    }
    // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
    const held = text.endsWith('\r') ? '\r' : ''
    const lines = text.slice(0, text.length - held.length).split(/\r\n|\r|\n/)
    // The last piece has no line end yet.
    this.#buffer = (lines.pop() ?? '') + held
    for (const line of lines) {
      const event = this.#line(line)
      if (event) yield event
    }
  }

  #line(line: string): ServerSentEvent | null {
    if (line === '') return this.#dispatch()
    if (line.startsWith(':')) return null
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.#event = value
    else if (field === 'data') this.#data.push(value)
    else if (field === 'id' && !value.includes('\0')) this.#id = value
    return null
  }

  #dispatch(): ServerSentEvent | null {
    const event = this.#data.length
      ? { event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id }
      : null
    this.#event = ''
    this.#data = []
    return event
  }
}
