//! Per-tenant rate limits (`[rate_limits]`): requests per second with a burst, per tenant and,
//! where the caller uses one, per API key, set per tenant tier. A route layer after tenant
//! resolution; past the limit, 429 with `Retry-After` and the IETF `RateLimit-Policy` and
//! `RateLimit` headers.
//!
//! - With `redis_url`, the limit holds across instances: GCRA in one round trip, a Lua script
//!   that reads Redis's own clock, checks and updates the key at once (no check-then-increment
//!   race). A Redis that fails or takes longer than `redis_timeout_ms` makes that request fall
//!   back to the in-process limiter: limits then hold per instance, never fail a request.
//! - Without it, GCRA in process through governor.
//!
//! The state is one cell (or Redis key) per key, and keys are tenants (and keys) the tenant
//! store knows: bounded by the tenants served, never by what clients send.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use graft_resolve::{GraphQLError, TenantId};
use graft_tenancy::ResolvedTenant;
use serde::Deserialize;

use crate::AppState;

/// `[rate_limits]`.
///
/// ```toml
/// [rate_limits]
/// default = { requests_per_second = 100, burst = 200 }
/// [rate_limits.tiers]
/// premium = { requests_per_second = 1000, burst = 2000 }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// The limit of tenants whose tier has none of its own (and of a server without tenancy).
    pub default: LimitConfig,
    /// Limits by tenant tier.
    #[serde(default)]
    pub tiers: HashMap<String, LimitConfig>,
    /// A Redis (`"redis://host:port"`), or a Redis Cluster (a list of its nodes' URLs), that
    /// keeps the counts of every instance.
    #[serde(default)]
    pub redis_url: Option<graft_redis::RedisTarget>,
    /// The prefix of the Redis keys (default `graft:rl`).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// The longest a Redis check may take before the request is counted in process instead
    /// (default 20 ms).
    #[serde(default)]
    pub redis_timeout_ms: Option<u64>,
}

/// One limit.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Requests per second, sustained (at least 1).
    pub requests_per_second: u32,
    /// Requests at once after a quiet spell (default: one second's worth).
    pub burst: Option<u32>,
    /// `_entities` representations per second, sustained (unset: not counted). Counted from
    /// the `representations` variable, as gateways send it.
    pub representations_per_second: Option<u32>,
    /// Representations at once after a quiet spell (default: one second's worth); a request
    /// with more is refused outright.
    pub representations_burst: Option<u32>,
}

/// Who a limit counts: a tenant, or one API key of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: TenantId,
    api_key: Option<Arc<str>>,
}

/// One rate of a tier: what it counts, how many per second, the burst, and the in-process
/// cells of the keys it counts.
struct Rate {
    unit: &'static str,
    per_second: u32,
    burst: u32,
    cells: DefaultKeyedRateLimiter<Key>,
}

impl Rate {
    fn new(
        unit: &'static str,
        at: &str,
        per_second: u32,
        burst: Option<u32>,
    ) -> Result<Rate, String> {
        let rate =
            NonZeroU32::new(per_second).ok_or(format!("{at}.{unit}_per_second: at least 1"))?;
        let burst_at = if unit == "requests" {
            "burst".to_owned()
        } else {
            format!("{unit}_burst")
        };
        let burst = NonZeroU32::new(burst.unwrap_or(per_second))
            .ok_or(format!("{at}.{burst_at}: at least 1"))?;
        Ok(Rate {
            unit,
            per_second,
            burst: burst.get(),
            cells: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        })
    }
}

/// One tier's limits.
struct Tier {
    name: String,
    requests: Rate,
    representations: Option<Rate>,
}

impl Tier {
    fn rates(&self) -> impl Iterator<Item = &Rate> {
        std::iter::once(&self.requests).chain(&self.representations)
    }
}

/// Why a request was refused: the tier, its rate, and when to come back (`None`: never, the
/// request alone is over the burst).
pub(crate) struct Refusal<'l> {
    tier: &'l Tier,
    rate: &'l Rate,
    wait: Option<std::time::Duration>,
}

/// The server's rate limits.
pub struct RateLimits {
    default: Tier,
    tiers: HashMap<String, Tier>,
    clock: DefaultClock,
    shared: Option<SharedCounts>,
}

/// The counts kept in Redis for every instance.
struct SharedCounts {
    redis: graft_redis::Redis,
    prefix: String,
    script: redis::Script,
}

/// GCRA over one key, on Redis's clock. `ARGV[1]`: the emission interval (ms per unit);
/// `ARGV[2]`: the burst; `ARGV[3]`: the units this request costs (its representations, or 1).
/// Answers `{1, 0}` when the request is allowed, `{0, ms}` with the wait otherwise. The key
/// holds the theoretical arrival time and expires when it has passed. The caller refuses a
/// request costing more than the burst before asking.
const GCRA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = interval * tonumber(ARGV[2])
local increment = interval * tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + increment
local allow_at = next_tat - window
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.max(1, math.ceil(next_tat - now)))
return {1, 0}
";

impl SharedCounts {
    /// Counts a request of `key` against `tier` in Redis: `Ok(None)` allowed, `Ok(Some(wait))`
    /// refused, `Err` when Redis did not answer in time.
    async fn check(
        &self,
        tier: &Tier,
        rate: &Rate,
        key: &Key,
        cost: u32,
    ) -> Result<Option<std::time::Duration>, graft_redis::RedisError> {
        let mut name = format!("{}:{}:{}", self.prefix, tier.name, key.tenant);
        if let Some(api_key) = &key.api_key {
            name.push(':');
            name.push_str(api_key);
        }
        if rate.unit != "requests" {
            name.push(':');
            name.push_str(rate.unit);
        }
        let interval = 1000.0 / f64::from(rate.per_second);
        let burst = rate.burst;
        let answer = self
            .redis
            .call(|mut connection| async move {
                self.script
                    .key(&name)
                    .arg(interval)
                    .arg(burst)
                    .arg(cost)
                    .invoke_async::<(i64, i64)>(&mut connection)
                    .await
            })
            .await;
        match answer {
            Ok((1, _)) => Ok(None),
            Ok((_, wait)) => Ok(Some(std::time::Duration::from_millis(
                u64::try_from(wait).unwrap_or(0).max(1),
            ))),
            Err(error) => {
                if !matches!(error, graft_redis::RedisError::Resting) {
                    tracing::warn!(%error, "rate limit: Redis did not answer; counting in process for a second");
                }
                Err(error)
            }
        }
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("tiers", &self.tiers.len())
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// The limits `section` describes; a rate or burst of 0 is refused, naming where.
    pub fn new(section: &RateLimitSection) -> Result<RateLimits, String> {
        let tier = |name: &str, config: &LimitConfig| -> Result<Tier, String> {
            let at = if name == "default" {
                "rate_limits.default".to_owned()
            } else {
                format!("rate_limits.tiers.{name}")
            };
            Ok(Tier {
                name: name.to_owned(),
                requests: Rate::new("requests", &at, config.requests_per_second, config.burst)?,
                representations: config
                    .representations_per_second
                    .map(|per_second| {
                        Rate::new(
                            "representations",
                            &at,
                            per_second,
                            config.representations_burst,
                        )
                    })
                    .transpose()?,
            })
        };
        Ok(RateLimits {
            default: tier("default", &section.default)?,
            tiers: section
                .tiers
                .iter()
                .map(|(name, config)| Ok((name.clone(), tier(name, config)?)))
                .collect::<Result<_, String>>()?,
            clock: DefaultClock::default(),
            shared: match &section.redis_url {
                None => None,
                Some(target) => Some(SharedCounts {
                    redis: graft_redis::Redis::new(
                        target,
                        std::time::Duration::from_millis(section.redis_timeout_ms.unwrap_or(20)),
                    )
                    .map_err(|e| format!("rate_limits.redis_url: {e}"))?,
                    prefix: section
                        .key_prefix
                        .clone()
                        .unwrap_or_else(|| "graft:rl".to_owned()),
                    script: redis::Script::new(GCRA),
                }),
            },
        })
    }

    /// The Redis that keeps the counts of every instance, if one does.
    pub fn redis(&self) -> Option<&graft_redis::Redis> {
        self.shared.as_ref().map(|shared| &shared.redis)
    }

    /// Forgets the cells of keys whose limit is back to full (unused for a while): destroyed
    /// tenants and revoked keys do not stay.
    pub fn prune(&self) {
        for rate in std::iter::once(&self.default)
            .chain(self.tiers.values())
            .flat_map(Tier::rates)
        {
            rate.cells.retain_recent();
            rate.cells.shrink_to_fit();
        }
    }

    /// How many keys the in-process limiters hold.
    pub fn len(&self) -> usize {
        std::iter::once(&self.default)
            .chain(self.tiers.values())
            .flat_map(Tier::rates)
            .map(|rate| rate.cells.len())
            .sum()
    }

    /// Whether the in-process limiters hold no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether some tier counts representations.
    pub(crate) fn counts_representations(&self) -> bool {
        std::iter::once(&self.default)
            .chain(self.tiers.values())
            .any(|tier| tier.representations.is_some())
    }

    /// The tier and the key a request of `tenant` (the default tenant without tenancy) counts
    /// against.
    fn tier_and_key(&self, tenant: Option<&ResolvedTenant>) -> (&Tier, Key) {
        let tier = tenant
            .and_then(|t| t.record.tier.as_deref())
            .and_then(|name| self.tiers.get(name))
            .unwrap_or(&self.default);
        let key = Key {
            tenant: tenant.map_or_else(TenantId::default_tenant, |t| t.record.id.clone()),
            api_key: tenant
                .filter(|t| t.caller.starts_with("api_key:"))
                .map(|t| Arc::from(&*t.caller)),
        };
        (tier, key)
    }

    /// Counts a request of `tenant`.
    async fn check(&self, tenant: Option<&ResolvedTenant>) -> Result<(), Refusal<'_>> {
        let (tier, key) = self.tier_and_key(tenant);
        self.spend(tier, &tier.requests, &key, 1).await
    }

    /// Counts `representations` of a request of `tenant`, when its tier counts them.
    pub(crate) async fn check_representations(
        &self,
        tenant: Option<&ResolvedTenant>,
        representations: usize,
    ) -> Result<(), Refusal<'_>> {
        let (tier, key) = self.tier_and_key(tenant);
        let Some(rate) = &tier.representations else {
            return Ok(());
        };
        let cost = u32::try_from(representations).unwrap_or(u32::MAX);
        self.spend(tier, rate, &key, cost).await
    }

    /// Spends `cost` of `rate` for `key`: in Redis when there is one and it answers in time,
    /// in process otherwise.
    async fn spend<'l>(
        &'l self,
        tier: &'l Tier,
        rate: &'l Rate,
        key: &Key,
        cost: u32,
    ) -> Result<(), Refusal<'l>> {
        let refused = |wait| Err(Refusal { tier, rate, wait });
        let Some(cost) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        if cost.get() > rate.burst {
            return refused(None);
        }
        if let Some(shared) = &self.shared
            && let Ok(verdict) = shared.check(tier, rate, key, cost.get()).await
        {
            return match verdict {
                None => Ok(()),
                Some(wait) => refused(Some(wait)),
            };
        }
        match rate.cells.check_key_n(key, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => refused(Some(not_until.wait_time_from(self.clock.now()))),
            Err(_) => refused(None),
        }
    }
}

impl Refusal<'_> {
    /// The 429 answer: `RATE_LIMITED`, `Retry-After`, `RateLimit-Policy` and `RateLimit`.
    pub(crate) fn response(&self, request_id: String) -> Response {
        let (rate, tier) = (self.rate, self.tier);
        let message = match self.wait {
            Some(wait) => format!(
                "the tenant's limit of {} {} per second (burst {}) is spent; retry in {} s",
                rate.per_second,
                rate.unit,
                rate.burst,
                seconds(wait)
            ),
            None => format!(
                "the request's {} are more than the tenant's burst of {}: it can never pass",
                rate.unit, rate.burst
            ),
        };
        let error = GraphQLError::new("RATE_LIMITED", message).with_detail("requestId", request_id);
        let body = serde_json::json!({ "errors": [error] });
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        let Some(wait) = self.wait else {
            return response;
        };
        let seconds = seconds(wait);
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        // IETF draft-ietf-httpapi-ratelimit-headers: the policy (quota per window of 1 s, the
        // sustained rate) and what is left of it (nothing) until `t` seconds from now.
        let policy = format!("\"{}\";q={};w=1", tier.name, rate.per_second);
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert("ratelimit-policy", value);
        }
        if let Ok(value) = HeaderValue::from_str(&format!("\"{}\";r=0;t={seconds}", tier.name)) {
            headers.insert("ratelimit", value);
        }
        response
    }
}

/// Whole seconds, rounded up.
fn seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The layer: refuses a request over its tenant's limit with 429.
pub(crate) async fn limit(
    State(state): State<AppState>,
    tenant: Option<Extension<ResolvedTenant>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limits) = &state.rate_limits else {
        return next.run(request).await;
    };
    let tenant = tenant.map(|Extension(tenant)| tenant);
    match limits.check(tenant.as_ref()).await {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            if let Some(metrics) = &state.metrics {
                metrics.rejected("rate_limit");
            }
            refusal.response(crate::http::request_id(request.headers()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_cells_are_pruned() {
        let limits = RateLimits::new(&RateLimitSection {
            default: LimitConfig {
                requests_per_second: 1_000,
                burst: Some(1),
                representations_per_second: None,
                representations_burst: None,
            },
            tiers: HashMap::new(),
            redis_url: None,
            key_prefix: None,
            redis_timeout_ms: None,
        })
        .unwrap();
        assert!(limits.check(None).await.is_ok());
        assert_eq!(limits.len(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        limits.prune();
        assert!(limits.is_empty(), "a cell back to full is forgotten");
    }

    #[tokio::test]
    async fn representations_spend_their_own_budget_in_process() {
        let limits = RateLimits::new(&RateLimitSection {
            default: LimitConfig {
                requests_per_second: 1_000,
                burst: None,
                representations_per_second: Some(10),
                representations_burst: Some(15),
            },
            tiers: HashMap::new(),
            redis_url: None,
            key_prefix: None,
            redis_timeout_ms: None,
        })
        .unwrap();
        assert!(limits.counts_representations());
        assert!(limits.check_representations(None, 10).await.is_ok());
        let spent = limits.check_representations(None, 10).await.err().unwrap();
        assert!(spent.wait.is_some(), "back later");
        let never = limits.check_representations(None, 20).await.err().unwrap();
        assert!(never.wait.is_none(), "over the burst: never");
        assert!(limits.check(None).await.is_ok(), "requests count apart");
    }
}
