/**
 * Rating a reply (docs/api.md#models-feedback-and-remaining-turns): thumbs up or down, with
 * optional tags and text, one rating per user and assistant message, shown in the detail as the
 * message's `metadata.feedback`. Takes every change's race-free path: Postgres first, then the
 * invalidation of the cached detail.
 */
import { ConversationNotFoundError, MessageNotFoundError, ValidationError } from '../errors';
import { countMetric, type MetricName } from '../platform/observability';
import { upsertMessageFeedbackByMessageId, type FeedbackContent, type FeedbackRating } from './feedback-repository';
import { invalidateConversationReads } from './reads';

export type { FeedbackContent, FeedbackRating };

const RATING_METRICS: Readonly<Record<FeedbackRating, MetricName>> = {
  thumbsUp: 'FeedbackThumbsUp',
  thumbsDown: 'FeedbackThumbsDown',
};

/** The answer of POST message_feedback (ChatGPT's shape: `content` is the tags and text as a JSON string). */
export interface FeedbackReceipt {
  readonly message_id: string;
  readonly conversation_id: string;
  readonly user_id: string;
  readonly rating: FeedbackRating;
  readonly content: string;
}

/**
 * Stores the user's rating of an assistant reply, replacing any earlier one, and drops the
 * cached detail so the next GET shows it. 404 for an unknown, foreign or deleted conversation
 * (alike) and for an unknown message; 422 for a message that is not an assistant reply.
 */
export async function rateMessage(args: {
  readonly userId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly rating: FeedbackRating;
  readonly content: FeedbackContent;
}): Promise<FeedbackReceipt> {
  const target = await upsertMessageFeedbackByMessageId(args);
  if (!target || target.ownerId !== args.userId) throw new ConversationNotFoundError();
  if (target.role === null) throw new MessageNotFoundError();
  if (!target.saved) {
    throw new ValidationError([{ loc: ['body', 'message_id'], msg: 'only an assistant message can be rated', type: 'value_error' }]);
  }
  countMetric(RATING_METRICS[args.rating]);
  // A rating shows in the detail only: the list keeps its cached pages.
  await invalidateConversationReads(args.userId, [args.conversationId], { list: false });
  return {
    message_id: args.messageId,
    conversation_id: args.conversationId,
    user_id: args.userId,
    rating: args.rating,
    content: JSON.stringify({ tags: args.content.tags, text: args.content.text }),
  };
}
