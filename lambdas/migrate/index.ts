import { migrateDatabase } from '@chatbot/shared';

/**
 * Deploy-time migration runner, invoked by the stack's Trigger after the
 * database (and its proxy) exist. Throwing fails (and rolls back) the deployment,
 * so a broken migration never leaves the handlers running against an old schema.
 */
export async function handler(): Promise<{ applied: string[]; appRoleLoginCreated: boolean }> {
  return migrateDatabase();
}
