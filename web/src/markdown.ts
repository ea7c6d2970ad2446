/**
 * Assistant replies as Markdown: `marked` parses (GitHub flavour), DOMPurify sanitizes, and
 * code blocks get a language label and a copy button. Nothing in a reply runs: HTML a model
 * writes is shown as text (as ChatGPT does), and DOMPurify then removes what Markdown itself can
 * express but must not do — a `javascript:` link — and anything else outside a small allowlist.
 * No picture is fetched from elsewhere either (a reply could leak the conversation in an image
 * URL). The page's Content-Security-Policy would block inline script anyway; this keeps it from
 * ever being attempted (Chromium reports a violation as soon as it parses an inline handler,
 * even in DOMPurify's inert document).
 */
import DOMPurify, { type Config } from 'dompurify';
import { Marked, type Token } from 'marked';
import { h } from './dom';

const markdown = new Marked(
  { gfm: true, breaks: true, async: false },
  {
    renderer: {
      // Markup in a reply is text: `<b>` reads as "<b>".
      html({ text }) {
        return escapeHtml(text);
      },
      // A link to the picture instead of the picture.
      image({ href, text }) {
        return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
      },
    },
  },
);

const SANITIZE: Config & { RETURN_DOM_FRAGMENT: true } = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'img', 'picture', 'source', 'video', 'audio', 'track', 'form', 'input', 'button', 'select', 'option', 'textarea', 'label', 'fieldset', 'dialog', 'template', 'slot'],
  // id and name could shadow the page's own elements (DOM clobbering); the rest take focus or look.
  FORBID_ATTR: ['style', 'id', 'name', 'for', 'form', 'tabindex', 'accesskey', 'autofocus', 'popover', 'contenteditable', 'draggable'],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

const CODE_LANGUAGE = /^language-([\w#+.-]{1,30})$/;

DOMPurify.addHook('uponSanitizeAttribute', (node, data) => {
  // Only marked's own `language-x` on code: a class from a reply could pass for the page's (a fake notice, a fake message).
  if (data.attrName === 'class') data.keepAttr = node.nodeName === 'CODE' && CODE_LANGUAGE.test(data.attrValue);
});
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A whole reply, parsed and sanitized. */
export function renderMarkdown(text: string): DocumentFragment {
  return finish(markdown.parse(text) as string);
}

function renderTokens(tokens: Token[]): DocumentFragment {
  return finish(markdown.parser(tokens));
}

function finish(html: string): DocumentFragment {
  const fragment = DOMPurify.sanitize(html, SANITIZE);
  for (const pre of fragment.querySelectorAll('pre')) decorateCodeBlock(pre);
  return fragment;
}

/** Wraps a `<pre>` with a header: its language and a copy button. */
function decorateCodeBlock(pre: HTMLPreElement): void {
  const language = CODE_LANGUAGE.exec(pre.querySelector('code')?.className ?? '')?.[1] ?? '';
  const copy = h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${language ? `${language} ` : ''}code` }, 'Copy');
  copy.addEventListener('click', () => void copyCode(copy, pre));
  // A long line scrolls sideways: the keyboard must reach it too.
  pre.tabIndex = 0;
  const block = h('div', { class: 'code-block' }, h('div', { class: 'code-head' }, h('span', { class: 'code-lang' }, language || 'text'), copy));
  pre.replaceWith(block);
  block.append(pre);
}

async function copyCode(button: HTMLButtonElement, pre: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(pre.textContent ?? '');
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => (button.textContent = 'Copy'), 1500);
}

/**
 * A reply's Markdown while it streams. Re-parsing and sanitizing the whole reply for every
 * token costs time that grows with the reply (test/web/markdown.test.ts measures it on a 4,000-token
 * reply), so a block that is complete — a later block has begun — is rendered once and kept;
 * only the last block is parsed and sanitized again, at most once per animation frame. The
 * finished blocks' DOM is left alone: no flicker, and a selection in them survives.
 */
export class MarkdownStream {
  private text = '';
  /** The start of the reply rendered into kept blocks. */
  private kept = '';
  /** The nodes of the last block(s), replaced on every render. */
  private live: ChildNode[] = [];
  private frame = 0;

  constructor(
    private readonly root: HTMLElement,
    /** Called after each render (e.g. to keep the end of the reply in view). */
    private readonly onRender: () => void = () => undefined,
  ) {}

  /** Shows `text` (the whole reply so far) by the next animation frame. */
  update(text: string): void {
    this.text = text;
    this.frame ||= requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Renders what `update` was given, now. */
  render(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const text = this.text.replace(/\r\n?/g, '\n');
    if (!text.startsWith(this.kept)) {
      // Not a continuation (a new reply in the same bubble): start over.
      this.root.replaceChildren();
      this.kept = '';
      this.live = [];
    }
    const tail = text.slice(this.kept.length);
    const tokens = markdown.lexer(tail);
    let last = tokens.length - 1;
    while (last > 0 && tokens[last].type === 'space') last -= 1;
    let complete = 0;
    let length = 0;
    // Every block before the last one is complete; stop at one whose source is not where expected.
    while (complete < last && tail.startsWith(tokens[complete].raw, length)) length += tokens[complete++].raw.length;
    for (const node of this.live) node.remove();
    if (complete > 0) {
      this.root.append(renderTokens(tokens.slice(0, complete)));
      this.kept += tail.slice(0, length);
    }
    const live = renderTokens(tokens.slice(complete));
    this.live = [...live.childNodes];
    this.root.append(live);
    this.onRender();
  }

  /** Drops a pending render (the bubble is going away). */
  cancel(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }
}
