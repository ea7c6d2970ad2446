/**
 * What is left of the turn limit (`GET /limits`), shown above the message box once it runs low
 * (a fifth of the limit or less), so the limit is not first met as a refusal.
 */
import { $ } from './dom';
import { state } from './state';

/** Shown at or below this share of the limit. */
export const LOW_SHARE = 0.2;

export async function refreshTurns(): Promise<void> {
  let turns;
  try {
    turns = await state.api.turns();
  } catch {
    // Not worth a notice: the turn itself says when it is refused.
    return;
  }
  showTurns(turns?.remaining ?? null, turns?.limit ?? 0, turns?.reset_after ?? null);
}

function showTurns(remaining: number | null, limit: number, resetAfter: string | null): void {
  const line = $('turns');
  // Unknown (the counter is unreadable) or plenty left: nothing to say.
  if (remaining === null || limit <= 0 || remaining > limit * LOW_SHARE) {
    line.hidden = true;
    return;
  }
  const at = resetAfter ? new Date(resetAfter) : undefined;
  const when = at && !Number.isNaN(at.getTime()) ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : undefined;
  line.textContent =
    remaining === 0
      ? `No turns left${when ? ` until ${when}` : ' for now'}.`
      : `${remaining} of ${limit} turns left${when ? `; one more at ${when}` : ''}.`;
  line.classList.toggle('out', remaining === 0);
  line.hidden = false;
}
