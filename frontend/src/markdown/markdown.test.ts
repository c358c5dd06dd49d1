import { describe, expect, it } from 'vitest'
import { createSSRApp, h } from 'vue'
import { renderToString } from 'vue/server-renderer'

import { renderMarkdown } from './markdown'

async function html(source: string): Promise<string> {
  return renderToString(createSSRApp({ render: () => h('div', renderMarkdown(source)) }))
}

describe('renderMarkdown', () => {
  it('renders headings, emphasis, lists, code, tables and links', async () => {
    const out = await html(
      '# Time\n\nThe **current** time, _anywhere_.\n\n- one\n- two\n\n```bash\nuvx mcp-server-time\n```\n\n' +
        '| a | b |\n|:-|-:|\n| 1 | 2 |\n\n[docs](https://example.com/docs "Docs") `get_current_time`',
    )
    expect(out).toContain('<h1>Time</h1>')
    expect(out).toContain('<strong>current</strong>')
    expect(out).toContain('<em>anywhere</em>')
    expect(out).toContain('<ul><li>one</li><li>two</li></ul>') // a tight list has no <p>
    expect(out).toContain('<pre><code class="language-bash">uvx mcp-server-time\n</code></pre>')
    expect(out).toContain('<th style="text-align:right">b</th>')
    expect(out).toContain(
      '<a href="https://example.com/docs" target="_blank" rel="noopener noreferrer nofollow ugc" title="Docs">docs</a>',
    )
    expect(out).toContain('<code>get_current_time</code>')
  })

  it('keeps raw HTML as text: no script, no event handler', async () => {
    const out = await html(
      '<script>window.hacked = 1</script>\n\nhi <img src=x onerror="window.hacked = 2"> <b onclick="x()">b</b>',
    )
    expect(out).not.toMatch(/<script|<img|<b /)
    expect(out).toContain('&lt;script&gt;window.hacked = 1&lt;/script&gt;')
    expect(out).toContain('&lt;img src=x onerror=&quot;window.hacked = 2&quot;&gt;')
  })

  it('drops links and images it would not follow, keeping their text', async () => {
    const out = await html(
      '[click](javascript:alert(1)) [data](data:text/html,<script>x</script>) ' +
        '![svg](data:image/svg+xml;base64,PHN2Zz4=) ![ok](https://example.com/a.png) <https://example.com/x> ' +
        '[ftp](ftp://example.com/f)',
    )
    expect(out).not.toMatch(/<a href="(javascript|data|ftp)/)
    expect(out).toContain('</a> ftp</p>') // a link markdown-it allows but we do not follow: text
    expect(out).not.toContain('src="data:image/svg')
    expect(out).toContain('click')
    expect(out).toContain('<img src="https://example.com/a.png" loading="lazy" referrerpolicy="no-referrer" alt="ok">')
    expect(out).toContain('<a href="https://example.com/x"')
  })

  it('renders Chinese text and empty input', async () => {
    expect(await html('获取当前时间并在时区之间换算')).toContain('<p>获取当前时间并在时区之间换算</p>')
    expect(renderMarkdown('')).toEqual([])
  })
})
