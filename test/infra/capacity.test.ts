/**
 * docs/deploy.md#capacity: every row of the sizing table deploys. Each row's `-c` flags are
 * read from the doc, synthesized as `cdk deploy` would (cdk.json context, cdk-nag as a
 * validation plugin: an unacknowledged finding throws), and the template must have what the
 * row's cells say: the cache shape (shards × node type, replicas), the database capacity (the
 * instance class, or the Aurora ACU range and readers), the streaming functions' reserved
 * concurrency, the stage throttle and the account concurrency alarm.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { API_FUNCTIONS } from '../../layer/src/contracts/route-table';
import { DEFAULT_CONTEXT } from '../../lib/stack-config';
import { REPO_ROOT } from '../../scripts/build-layer';
import { removeSynthOutputs, resourcesOfType, synthesize, unacknowledgedFindings, type CfnResource, type Synthesized } from './support/synth';

interface CapacityRow {
  readonly dau: string;
  readonly cells: readonly string[];
  readonly context: Readonly<Record<string, string>>;
}

/** The sizing table of the Capacity section: the rows whose last cell is the `-c` flags. */
function capacityRows(): CapacityRow[] {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  const start = doc.indexOf('\n## Capacity\n');
  if (start < 0) throw new Error('docs/deploy.md has no "## Capacity" section');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((line) => /^\| [\d,]+ \|/.test(line) && line.includes('`-c '))
    .map((line) => {
      const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
      const flags = cells.at(-1)!;
      const pairs = [...flags.matchAll(/-c ([A-Za-z]+)=([^\s`]+)/g)].map((match) => [match[1], match[2]] as const);
      return { dau: cells[0], cells, context: Object.fromEntries(pairs) };
    });
}

const rows = capacityRows();
const synthesized = new Map<string, Synthesized>();

beforeAll(() => {
  for (const row of rows) synthesized.set(row.dau, synthesize(row.context));
}, 180_000);

afterAll(() => removeSynthOutputs());

const only = (s: Synthesized, type: string): CfnResource => {
  const found = resourcesOfType(s.json, type);
  expect(found).toHaveLength(1);
  return found[0][1];
};
/** A knob's value in the row, or its default. */
const knob = (row: CapacityRow, key: keyof typeof DEFAULT_CONTEXT): string => row.context[key] ?? String(DEFAULT_CONTEXT[key]);

describe('docs/deploy.md capacity table', () => {
  it('has the three rows, each with flags for existing context keys only', () => {
    expect(rows.map((row) => row.dau)).toEqual(['10,000', '100,000', '1,000,000']);
    for (const row of rows) {
      expect(Object.keys(row.context).length).toBeGreaterThan(3);
      for (const key of Object.keys(row.context)) expect(Object.keys(DEFAULT_CONTEXT)).toContain(key);
    }
  });

  describe.each(rows.map((row) => [row.dau, row] as const))('%s daily active users', (dau, row) => {
    const s = () => synthesized.get(dau)!;

    it('synthesizes with no unacknowledged cdk-nag finding', () => {
      expect(unacknowledgedFindings(s())).toEqual([]);
    });

    it('has the cache the row states: shards × node type, replicas', () => {
      const nodeType = knob(row, 'cacheNodeType');
      const shards = Number(knob(row, 'cacheShards'));
      const replicas = Number(knob(row, 'cacheReplicas'));
      const cacheCell = row.cells[3];
      expect(cacheCell).toContain(`${shards} × \`${nodeType}\``);
      expect(cacheCell).toContain(`${replicas} replica`);
      const group = only(s(), 'AWS::ElastiCache::ReplicationGroup').Properties!;
      expect(group.CacheNodeType).toBe(nodeType);
      if (shards > 1) expect(group).toMatchObject({ NumNodeGroups: shards, ReplicasPerNodeGroup: replicas });
      else expect(group.NumCacheClusters).toBe(1 + replicas);
    });

    it('has the database the row states', () => {
      const databaseCell = row.cells[4];
      if (knob(row, 'databaseMode') === 'aurora-serverless') {
        const [min, max, readers] = [knob(row, 'auroraMinAcu'), knob(row, 'auroraMaxAcu'), row.context.auroraReaders].map(Number);
        expect(databaseCell).toContain(`${min}–${max} ACU, ${readers} reader`);
        const cluster = only(s(), 'AWS::RDS::DBCluster').Properties!;
        expect(cluster.ServerlessV2ScalingConfiguration).toMatchObject({ MinCapacity: min, MaxCapacity: max });
        const instances = resourcesOfType(s().json, 'AWS::RDS::DBInstance').map(([, resource]) => resource.Properties!);
        expect(instances).toHaveLength(1 + readers);
        expect(instances.every((instance) => instance.DBInstanceClass === 'db.serverless')).toBe(true);
        expect(resourcesOfType(s().json, 'AWS::RDS::DBProxy')).toHaveLength(0);
      } else {
        const instanceClass = `db.${knob(row, 'dbInstanceType')}`;
        expect(databaseCell).toContain(instanceClass);
        expect(only(s(), 'AWS::RDS::DBInstance').Properties!.DBInstanceClass).toBe(instanceClass);
        expect(resourcesOfType(s().json, 'AWS::RDS::DBProxy')).toHaveLength(1);
      }
    });

    it('reserves the stated concurrency for each streaming function, above the stated peak', () => {
      const reserved = Number(row.context.streamingConcurrency);
      const [peak, reservedInCell] = [/^([\d,]+)/, /reserve ([\d,]+)/].map((pattern) => Number(pattern.exec(row.cells[2])![1].replaceAll(',', '')));
      expect(reservedInCell).toBe(reserved);
      expect(reserved).toBeGreaterThan(peak);
      const reservations = resourcesOfType(s().json, 'AWS::Lambda::Function')
        .map(([, fn]) => fn.Properties!.ReservedConcurrentExecutions)
        .filter((value) => value !== undefined);
      const streaming = Object.values(API_FUNCTIONS).filter((spec) => spec.streaming);
      expect(reservations).toEqual(streaming.map(() => reserved));
      // The quota the row asks for holds them all and Lambda's unreserved 100; the account alarm sits at 80 % of it.
      const quota = /quota ([\d,]+)/.exec(row.cells[2]);
      const needed = streaming.length * reserved + 100;
      if (quota) {
        expect(Number(quota[1].replaceAll(',', ''))).toBeGreaterThanOrEqual(needed);
        expect(Number(knob(row, 'accountConcurrencyAlarmThreshold'))).toBe(0.8 * Number(quota[1].replaceAll(',', '')));
      } else expect(needed).toBeLessThanOrEqual(1000); // Lambda's default quota
    });

    it('throttles the stage above the stated peak request rate, and alarms on the account concurrency it sets', () => {
      const [, stage] = resourcesOfType(s().json, 'AWS::ApiGateway::Stage')[0];
      const stageWide = (stage.Properties!.MethodSettings as { ResourcePath: string; ThrottlingRateLimit: number; ThrottlingBurstLimit: number }[]).find(
        (setting) => setting.ResourcePath === '/*',
      )!;
      expect(stageWide).toMatchObject({ ThrottlingRateLimit: Number(knob(row, 'throttleRateLimit')), ThrottlingBurstLimit: Number(knob(row, 'throttleBurstLimit')) });
      expect(stageWide.ThrottlingRateLimit).toBeGreaterThan(Number(row.cells[1].replaceAll(',', '')));
      const accountAlarm = resourcesOfType(s().json, 'AWS::CloudWatch::Alarm').find(
        ([, alarm]) => alarm.Properties!.MetricName === 'ConcurrentExecutions' && !alarm.Properties!.Dimensions,
      );
      const threshold = Number(knob(row, 'accountConcurrencyAlarmThreshold'));
      expect(accountAlarm?.[1].Properties!.Threshold).toBe(threshold);
      // The quota must hold both reservations and Lambda's unreserved 100; the alarm sits below the quota.
      expect(threshold).toBeGreaterThan(Number(row.cells[2].replaceAll(',', '').match(/^\d+/)![0]));
    });
  });
});
