/**
 * Markdown from publishers (service descriptions, changelogs) as Vue virtual nodes, never as
 * an HTML string: markdown-it parses with raw HTML off, and only the tags it produces are
 * built, each with an allowlist of attributes. A `<script>` or an `onerror` in the source
 * stays text; links go to http(s) or mail only. Imported lazily by <BaseMarkdown>, so pages
 * without markdown never load it.
 */
import MarkdownIt from 'markdown-it'
import type { Token } from 'markdown-it'
import { h, type VNode, type VNodeArrayChildren } from 'vue'

const md = new MarkdownIt({ html: false, linkify: true, typographer: false })

const TAGS = new Set([
  'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'strong', 'em', 's',
  'a', 'code', 'pre', 'hr', 'br', 'img', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
])
const SAFE_LINK = /^(https?:|mailto:|#)/i
const SAFE_IMAGE = /^(https?:|data:image\/(png|gif|jpe?g|webp);)/i
const ALIGN = /^text-align:(left|right|center)$/

function attributes(token: Token): Record<string, string> | null {
  const out: Record<string, string> = {}
  for (const [name, value] of token.attrs ?? []) {
    if (token.tag === 'a' && name === 'href') {
      if (!SAFE_LINK.test(value)) return null // not a link we follow: keep the text only
      out['href'] = value
      out['target'] = '_blank'
      out['rel'] = 'noopener noreferrer nofollow ugc'
    } else if (token.tag === 'img' && name === 'src') {
      if (!SAFE_IMAGE.test(value)) return null
      out['src'] = value
      out['loading'] = 'lazy'
      out['referrerpolicy'] = 'no-referrer'
    } else if ((name === 'alt' || name === 'title') && (token.tag === 'img' || token.tag === 'a')) {
      out[name] = value
    } else if (name === 'start' && token.tag === 'ol' && /^\d+$/.test(value)) {
      out['start'] = value
    } else if (name === 'style' && (token.tag === 'th' || token.tag === 'td') && ALIGN.test(value)) {
      out['style'] = value
    }
  }
  return out
}

interface Frame {
  tag: string | null
  attrs: Record<string, string> | null
  children: VNodeArrayChildren
}

function build(tokens: Token[]): VNodeArrayChildren {
  const root: Frame = { tag: null, attrs: null, children: [] }
  const stack: Frame[] = [root]
  const top = () => stack[stack.length - 1]!
  for (const token of tokens) {
    if (token.nesting === 1) {
      // A hidden tag (paragraphs in a tight list) or an unsafe link keeps only its content.
      const attrs = attributes(token)
      const keep = !token.hidden && TAGS.has(token.tag) && attrs !== null
      stack.push({ tag: keep ? token.tag : null, attrs, children: [] })
    } else if (token.nesting === -1) {
      const frame = stack.pop()!
      top().children.push(...(frame.tag ? [h(frame.tag, frame.attrs ?? {}, frame.children)] : frame.children))
    } else {
      top().children.push(...leaf(token))
    }
  }
  return root.children
}

function leaf(token: Token): VNodeArrayChildren {
  switch (token.type) {
    case 'inline':
      return build(token.children ?? [])
    case 'text':
    case 'html_inline':
    case 'html_block':
      return [token.content]
    case 'softbreak':
      return ['\n']
    case 'hardbreak':
      return [h('br')]
    case 'code_inline':
      return [h('code', token.content)]
    case 'code_block':
    case 'fence': {
      const language = token.info.trim().split(/\s+/)[0] ?? ''
      const attrs = /^[\w+-]{1,32}$/.test(language) ? { class: `language-${language}` } : {}
      return [h('pre', [h('code', attrs, token.content)])]
    }
    case 'hr':
      return [h('hr')]
    case 'image': {
      const attrs = attributes(token)
      const alt = token.children ? token.children.map((c) => c.content).join('') : token.content
      return attrs ? [h('img', { ...attrs, alt })] : [alt]
    }
    default:
      return token.content ? [token.content] : []
  }
}

/** The rendered nodes of a markdown source. */
export function renderMarkdown(source: string): VNode[] {
  return build(md.parse(source, {})) as VNode[]
}
