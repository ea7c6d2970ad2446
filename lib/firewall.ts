import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/** Props for {@link ApiFirewall}. */
export interface ApiFirewallProps {
  /** The REST API stage the web ACL protects. */
  readonly stage: apigw.Stage;
  /**
   * Requests one IP address may send per evaluation window; past it the address is blocked until
   * its rate drops. AWS WAF allows 10 to 2,000,000,000.
   * @default 1000
   */
  readonly requestsPerIp?: number;
  /** The window the rate is counted over: 1, 2, 5 or 10 minutes. @default Duration.minutes(5) */
  readonly evaluationWindow?: Duration;
}

/** The windows AWS WAF counts a rate-based rule over, in seconds. */
const EVALUATION_WINDOWS = [60, 120, 300, 600];
const RATE_RULE = 'RatePerIp';

/**
 * An AWS WAF v2 web ACL on the API stage with one rate-based rule per client IP address: the
 * stage throttle is shared by all callers, so one client could otherwise use all of it (and the
 * functions' concurrency behind it). Requests under the rate pass; the rest get WAF's 403.
 */
export class ApiFirewall extends Construct {
  /** The web ACL. */
  public readonly webAcl: wafv2.CfnWebACL;
  /** Requests per IP address per window before blocking. */
  public readonly requestsPerIp: number;

  private readonly metricPrefix: string;

  constructor(scope: Construct, id: string, props: ApiFirewallProps) {
    super(scope, id);
    this.requestsPerIp = props.requestsPerIp ?? 1000;
    const windowSeconds = (props.evaluationWindow ?? Duration.minutes(5)).toSeconds();
    if (!Number.isInteger(this.requestsPerIp) || this.requestsPerIp < 10 || this.requestsPerIp > 2_000_000_000) {
      throw new Error(`ApiFirewall: requestsPerIp must be an integer from 10 to 2000000000; got ${this.requestsPerIp}`);
    }
    if (!EVALUATION_WINDOWS.includes(windowSeconds)) {
      throw new Error(`ApiFirewall: evaluationWindow must be 1, 2, 5 or 10 minutes; got ${windowSeconds} s`);
    }
    this.metricPrefix = `ChatbotApi${id}`;

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: 'Chatbot API: per-IP request rate limit',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: this.metricPrefix, sampledRequestsEnabled: true },
      rules: [
        {
          name: RATE_RULE,
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: { limit: this.requestsPerIp, aggregateKeyType: 'IP', evaluationWindowSec: windowSeconds },
          },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${this.metricPrefix}${RATE_RULE}`, sampledRequestsEnabled: true },
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }

  /** Requests the rate rule blocked. */
  public metricBlockedRequests(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/WAFV2',
      metricName: 'BlockedRequests',
      dimensionsMap: { WebACL: this.metricPrefix, Rule: `${this.metricPrefix}${RATE_RULE}`, Region: this.webAcl.stack.region },
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
    });
  }
}
