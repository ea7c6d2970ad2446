/**
 * The model picker: the models `GET /models` lists, shown per conversation. A conversation
 * shows the model of its last reply on screen (`metadata.model_slug`), a new chat the default;
 * the choice goes with the next turn as `model` and the server keeps it for the conversation.
 */
import { $, h } from './dom';
import { state, type Shown } from './state';

const picker = () => $<HTMLSelectElement>('model');

export async function loadModels(): Promise<void> {
  try {
    state.models = await state.api.models();
  } catch {
    // No picker: the server picks (the conversation's last model, else its default).
    state.models = undefined;
  }
  const list = state.models;
  picker().replaceChildren(...(list?.models ?? []).map((model) => h('option', { value: model.slug, title: model.description ?? '' }, model.title)));
  picker().hidden = !list || list.models.length < 2;
  showModelOf(shownModel);
}

/** The model of the conversation on screen (the picker may be filled in after it opened). */
let shownModel: string | undefined;

/** The model of the last reply among `messages` that the API still lists. */
export function lastModel(messages: readonly Shown[]): string | undefined {
  for (let i = messages.length - 1; i >= 0; i -= 1) if (messages[i].role === 'assistant' && messages[i].model) return messages[i].model;
  return undefined;
}

/** Shows `slug` in the picker when it is listed; else the conversation's default, else the API's. */
export function showModelOf(slug: string | undefined): void {
  shownModel = slug;
  const list = state.models;
  if (!list) return;
  const listed = (candidate: unknown): candidate is string => typeof candidate === 'string' && list.models.some((model) => model.slug === candidate);
  const conversationDefault = (state.conversation as { default_model_slug?: unknown } | undefined)?.default_model_slug;
  picker().value = listed(slug) ? slug : listed(conversationDefault) ? conversationDefault : list.default_model_slug;
}

/** The model to send with a turn, when the API listed any. */
export function chosenModel(): string | undefined {
  return state.models && picker().value ? picker().value : undefined;
}
