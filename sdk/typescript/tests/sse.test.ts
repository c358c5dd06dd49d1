import { describe, expect, it } from 'vitest'

import { EventStreamParser, readEventStream, type ServerSentEvent } from '../src'

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const bytes = chunks.map((chunk) => new TextEncoder().encode(chunk))
  return new ReadableStream({
    start(controller) {
      for (const chunk of bytes) controller.enqueue(chunk)
      controller.close()
    },
  })
}

async function all(stream: ReadableStream<Uint8Array>): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = []
  for await (const event of readEventStream(stream)) events.push(event)
  return events
}

describe('server-sent events', () => {
  it('gives nothing more once its signal aborts, though the body goes on', async () => {
    // Two events in one chunk, then comments that never end: a live stream kept open.
    const encoder = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('event: log\ndata: 1\n\nevent: log\ndata: 2\n\n'))
      },
      pull(controller) {
        controller.enqueue(encoder.encode(': keep-alive\n\n'))
        return new Promise((resolve) => setTimeout(resolve, 5))
      },
    })
    const stop = new AbortController()
    const seen: string[] = []
    const reading = (async () => {
      for await (const event of readEventStream(body, stop.signal)) {
        seen.push(event.data)
        stop.abort()
      }
    })()
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' })
    expect(seen).toEqual(['1'])
  })

  it('reads named events, skips comments, and joins data lines', async () => {
    const events = await all(
      streamOf(': keep-alive\n\n', 'event: log\ndata: {"a":1}\n\n', 'data: one\ndata: two\nid: 7\n\n'),
    )
    expect(events).toEqual([
      { event: 'log', data: '{"a":1}', id: undefined },
      { event: 'message', data: 'one\ntwo', id: '7' },
    ])
  })

  it('puts events split anywhere back together, CRLF across chunks included', async () => {
    const text = 'event: log\r\ndata: {"message":"héllo"}\r\n\r\nevent: end\r\ndata: {}\r\n\r\n'
    const chunks = [...text].reduce<string[]>((parts, ch, i) => {
      if (i % 3 === 0) parts.push(ch)
      else parts[parts.length - 1] += ch
      return parts
    }, [])
    expect((await all(streamOf(...chunks))).map((e) => [e.event, e.data])).toEqual([
      ['log', '{"message":"héllo"}'],
      ['end', '{}'],
    ])
  })

  it('never dispatches an event the stream ended in the middle of', async () => {
    expect(await all(streamOf('event: log\ndata: half'))).toEqual([])
    const parser = new EventStreamParser()
    expect([...parser.push('data:no-space\nevent:x\n')]).toEqual([])
    expect([...parser.push('\n')]).toEqual([{ event: 'x', data: 'no-space', id: undefined }])
  })
})
