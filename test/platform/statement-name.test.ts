/** How a Postgres statement is named in a trace: its outermost verb and table, never its values. Pure. */
import { statementName } from '@chatbot/shared/testing';

it('names a statement by its outermost verb and the table it works on', () => {
  expect(statementName('SELECT id, extract(epoch FROM create_time)::float8 AS x, (SELECT json_agg(m) FROM (SELECT * FROM messages) m) AS messages FROM conversations c WHERE id = $1')).toBe('SELECT conversations');
  expect(statementName('WITH moved AS (UPDATE conversations SET x = 1 RETURNING id) INSERT INTO messages (a) SELECT 1 FROM moved')).toBe('INSERT messages');
  expect(statementName('UPDATE conversations SET a = 1 WHERE id = $1')).toBe('UPDATE conversations');
  expect(statementName('DELETE FROM conversations WHERE id IN (SELECT id FROM conversations)')).toBe('DELETE conversations');
  expect(statementName("SELECT 'x' FROM secret_table WHERE a = 'DROP TABLE y'")).toBe('SELECT secret_table');
  expect(statementName('BEGIN')).toBe('QUERY');
});
