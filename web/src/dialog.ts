/**
 * A question in the page (a modal `<dialog>`): keyboard-reachable, Escape cancels, styled like
 * the page, and nothing a test or another tab has to answer the browser's own way.
 */
import { h } from './dom';

export interface Question {
  readonly title: string;
  readonly detail?: string;
  readonly confirm: string;
  readonly cancel: string;
  /** The confirm button looks like what it does (delete). */
  readonly danger?: boolean;
}

/** Resolves true when the person picks `confirm`; false on `cancel` or Escape. */
export function ask(question: Question): Promise<boolean> {
  const titleId = `dialog-title-${crypto.randomUUID()}`;
  const dialog = h(
    'dialog',
    { class: 'confirm', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, question.title),
    question.detail && h('p', {}, question.detail),
    h(
      'div',
      { class: 'dialog-buttons' },
      // The harmless answer has the focus: Enter alone does not switch or delete anything.
      h('button', { type: 'button', 'data-answer': 'cancel', autofocus: true, onclick: () => dialog.close('cancel') }, question.cancel),
      h('button', { type: 'button', 'data-answer': 'confirm', class: question.danger ? 'danger' : 'primary', onclick: () => dialog.close('confirm') }, question.confirm),
    ),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    dialog.showModal();
  });
}
