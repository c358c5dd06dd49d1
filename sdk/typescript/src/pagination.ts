/** Cursor pages: read one page, ask for the next, or iterate over every item with `for await`. */

/** One page of a cursor-paged list, newest first. */
export class CursorPage<Item> implements AsyncIterable<Item> {
  /** The items of this page. */
  readonly data: Item[]
  /** Pass as `cursor` to read the next (older) page; `null` on the last page. */
  readonly nextCursor: string | null

  constructor(
    body: { data: Item[]; next_cursor: string | null },
    private readonly fetchPage: (cursor: string) => Promise<CursorPage<Item>>,
  ) {
    this.data = body.data
    this.nextCursor = body.next_cursor
  }

  /** Whether an older page exists. */
  hasNextPage(): boolean {
    return this.nextCursor !== null
  }

  /** The next (older) page; throws on the last page. */
  getNextPage(): Promise<CursorPage<Item>> {
    if (this.nextCursor === null) throw new Error('this is the last page')
    return this.fetchPage(this.nextCursor)
  }

  /** Every item of this page and of all older pages, fetched as the loop goes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    let page: CursorPage<Item> = this
    for (;;) {
      yield* page.data
      if (!page.hasNextPage()) return
      page = await page.getNextPage()
    }
  }
}
