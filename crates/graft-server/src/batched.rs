//! Batched GraphQL requests: a JSON array of requests in one `POST /graphql`, as Apollo Router
//! sends with subgraph batching (`batching.subgraph`) and Apollo Server accepts
//! (`allowBatchedHttpRequests`), answered by a JSON array of responses in the same order.
//!
//! Each entry runs as if it had come alone: its own plan, limits, errors and statistics. The
//! entries run concurrently, at most [`HttpLimits::batch_concurrency`] at once, and spend
//! from one [`graft_resolve::BatchBudget`] as well: the request limits apply to the batch as a whole (rows,
//! statements and their concurrency, estimated cost, response bytes), so a batch costs no
//! more than one request may. An entry that is not a GraphQL request gets an error response
//! of its own in its place; the batch itself is refused (400) when it is empty, longer than
//! [`HttpLimits::max_batch_size`], not JSON, or when batching is turned off. A batch's status
//! is 200 whatever the media type: each entry's own outcome is in its response.
//!
//! [`HttpLimits::batch_concurrency`]: crate::HttpLimits::batch_concurrency
//! [`HttpLimits::max_batch_size`]: crate::HttpLimits::max_batch_size

use std::time::Instant;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt as _;
use graft_resolve::{GraphQLError, GraphQLRequest};
use graft_tenancy::ResolvedTenant;
use serde_json::value::RawValue;

use crate::AppState;
use crate::http::{self, CacheAdvice, ResponseMedia};

/// A batch's entries, at most `limit` of them: past it, reading stops with an error (and
/// `over` set) before the rest is read, so that a body of millions of tiny entries costs no
/// list of millions.
struct Entries<'o> {
    limit: usize,
    over: &'o std::cell::Cell<bool>,
}

impl<'de> serde::de::Visitor<'de> for Entries<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of GraphQL requests")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element()? {
            if entries.len() == self.limit {
                self.over.set(true);
                return Err(serde::de::Error::custom("over the batch limit"));
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// Whether `body` is a batch: a JSON array (after any leading whitespace).
pub(crate) fn is_batch(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|&byte| byte == b'[')
}

/// Runs the batch in `body` and answers the array of its responses.
pub(crate) async fn execute(
    state: &AppState,
    tenant: Option<&ResolvedTenant>,
    headers: &HeaderMap,
    media: ResponseMedia,
    body: &[u8],
    deadline: Instant,
) -> Response {
    let refuse = |code: &'static str, message: String| {
        http::transport_error(media, StatusCode::BAD_REQUEST, code, message)
    };
    let limits = &state.limits;
    if !limits.batching {
        return refuse(
            "BATCHING_DISABLED",
            "batched requests (a JSON array of GraphQL requests) are turned off on this server \
             (`[server] batching`): send one request per POST"
                .to_owned(),
        );
    }
    let over = std::cell::Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let entries = match serde::Deserializer::deserialize_seq(
        &mut reader,
        Entries {
            limit: limits.max_batch_size,
            over: &over,
        },
    )
    .and_then(|entries| reader.end().map(|()| entries))
    {
        Ok(entries) => entries,
        Err(_) if over.get() => {
            return refuse(
                "BATCH_TOO_LARGE",
                format!(
                    "the batch has more than {} requests, the limit (`[server] max_batch_size`)",
                    limits.max_batch_size
                ),
            );
        }
        Err(error) => {
            return refuse(
                "BAD_REQUEST",
                format!("the body is not a batch of GraphQL requests: {error}"),
            );
        }
    };
    if entries.is_empty() {
        return refuse(
            "BAD_REQUEST",
            "the batch is empty: send at least one GraphQL request".to_owned(),
        );
    }
    let requests: Vec<Result<GraphQLRequest<'_>, GraphQLError>> = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_entry(index, entry))
        .collect();
    if let Err(refusal) =
        http::check_representations(state, tenant, headers, requests.iter().flatten()).await
    {
        return refusal;
    }
    let base = http::request_context(tenant, headers, deadline, crate::metrics::observer(state));
    let budget = state.engine.batch_budget();
    let budget = &budget;
    // A named async fn per entry, not a closure: the futures are then `Send` for any lifetime.
    let runs: Vec<_> = requests
        .iter()
        .enumerate()
        .map(|(index, request)| {
            let mut ctx = base.clone();
            ctx.request_id = format!("{}.{index}", base.request_id);
            run_entry(state, ctx, headers, request, budget)
        })
        .collect();
    let answers: Vec<Answered> = futures_util::stream::iter(runs)
        .buffered(limits.batch_concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::with_capacity(answers.iter().map(|a| a.body.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (index, answer) in answers.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&answer.body);
    }
    out.push(b']');
    let mut reply = http::json_response(StatusCode::OK, media, out);
    if let Some(advice) = cache_control(&answers) {
        reply
            .headers_mut()
            .insert(header::CACHE_CONTROL, advice.header());
    }
    reply
}

/// Runs one entry (or answers its error) as `ctx`, spending from the batch's `budget`.
async fn run_entry(
    state: &AppState,
    ctx: graft_resolve::RequestContext,
    headers: &HeaderMap,
    request: &Result<GraphQLRequest<'_>, GraphQLError>,
    budget: &graft_resolve::BatchBudget,
) -> Answered {
    match request {
        Ok(request) => {
            let answer = http::run(state, &ctx, headers, request, Some(budget)).await;
            Answered {
                body: answer.body,
                cache_control: answer.cache_control,
            }
        }
        Err(error) => Answered {
            body: serde_json::to_vec(&serde_json::json!({ "errors": [error] }))
                .expect("an error serializes"),
            cache_control: Some(CacheAdvice::NoStore),
        },
    }
}

/// One entry's answer.
struct Answered {
    body: Vec<u8>,
    cache_control: Option<CacheAdvice>,
}

/// Entry `index` as a GraphQL request, or the error that takes its place in the answer.
fn parse_entry(index: usize, entry: &RawValue) -> Result<GraphQLRequest<'_>, GraphQLError> {
    let bad = |message: String| {
        GraphQLError::new("BAD_REQUEST", message).with_detail("batchIndex", index)
    };
    if entry.get().starts_with('[') {
        return Err(bad(format!(
            "batch entry {index} is an array: a batch holds GraphQL request objects, not batches"
        )));
    }
    serde_json::from_str(entry.get()).map_err(|error| {
        bad(format!(
            "batch entry {index} is not a GraphQL request: {error}"
        ))
    })
}

/// The batch's advice: `no-store` when any entry's is, else the most careful `max-age` when
/// every entry advises one, else none.
fn cache_control(answers: &[Answered]) -> Option<CacheAdvice> {
    if answers
        .iter()
        .any(|answer| answer.cache_control == Some(CacheAdvice::NoStore))
    {
        return Some(CacheAdvice::NoStore);
    }
    answers
        .iter()
        .map(|answer| answer.cache_control)
        .reduce(|all, one| Some(all?.and(one?)))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_an_array_after_any_whitespace() {
        assert!(is_batch(b"[]"));
        assert!(is_batch(b" \n\t[{}]"));
        assert!(!is_batch(b"{\"query\":\"[\"}"));
        assert!(!is_batch(b""));
    }

    #[test]
    fn the_batch_advice_is_the_most_careful_of_its_entries() {
        let answered = |advice: Option<&'static str>| Answered {
            body: Vec::new(),
            cache_control: advice.map(|header| match header {
                "no-store" => CacheAdvice::NoStore,
                "public, max-age=60" => CacheAdvice::MaxAge {
                    private: false,
                    seconds: 60,
                },
                _ => CacheAdvice::MaxAge {
                    private: true,
                    seconds: 30,
                },
            }),
        };
        let advice = |answers: &[Answered]| {
            cache_control(answers).map(|value| value.header().to_str().unwrap().to_owned())
        };
        assert_eq!(
            advice(&[
                answered(Some("public, max-age=60")),
                answered(Some("private, max-age=30"))
            ])
            .as_deref(),
            Some("private, max-age=30")
        );
        assert_eq!(
            advice(&[answered(Some("public, max-age=60")), answered(None)]),
            None
        );
        assert_eq!(
            advice(&[answered(None), answered(Some("no-store"))]).as_deref(),
            Some("no-store")
        );
    }

    #[test]
    fn entries_that_are_not_requests_say_which_and_why() {
        let nested = RawValue::from_string("[{\"query\":\"{a}\"}]".to_owned()).unwrap();
        let error = parse_entry(2, &nested).unwrap_err();
        assert!(
            error.message.contains("batch entry 2 is an array"),
            "{error:?}"
        );
        let number = RawValue::from_string("7".to_owned()).unwrap();
        let error = parse_entry(0, &number).unwrap_err();
        assert!(
            error
                .message
                .contains("batch entry 0 is not a GraphQL request"),
            "{error:?}"
        );
    }
}
