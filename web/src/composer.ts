/** The message box: Enter sends, Shift+Enter adds a line; the text comes back if the send fails. */
import { $ } from './dom';
import { send, stop } from './reply';
import { state } from './state';

async function sendFromComposer(): Promise<void> {
  const input = $<HTMLTextAreaElement>('input');
  const draft = input.value;
  const text = draft.trim();
  if (!text || state.streaming) return;
  // Continue from the message on screen; a new conversation hangs under the client's root.
  const conversation = state.conversation;
  const parent = conversation ? (state.leaf ?? conversation.current_node) : 'client-created-root';
  input.value = '';
  const sent = await send(text, parent);
  // Refused before the reply started (a 429, a 5xx, no network): nothing was stored, so the text is not lost.
  if (!sent) input.value = input.value ? `${draft}\n${input.value}` : draft;
}

export function wireComposer(): void {
  const input = $<HTMLTextAreaElement>('input');
  input.addEventListener('keydown', (event) => {
    // An IME composition's Enter is not a send.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void sendFromComposer();
    }
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    void sendFromComposer();
  });
  $('stop').addEventListener('click', () => void stop());
}
