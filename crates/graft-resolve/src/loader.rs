//! The relation DataLoader: coalesces, batches and caches the lookups of one request.
//!
//! Relation fields are resolved level by level, so the plan already batches each field's keys
//! for all its parents. The loader adds what the plan cannot see:
//!
//! - **Coalescing.** Loads of the same relation selection that run concurrently (the same field
//!   under several fetch groups, e.g. one group per organisation) join one batch. The first
//!   caller flushes after `window` (default 0: after the other ready tasks have had their turn).
//! - **Batch size.** A flush sends at most `max_batch` keys per statement.
//! - **Cache.** Within a request, a key already loaded for a selection is never loaded again.
//!   The cache lives and dies with the request, so it is always on: it cannot serve stale data
//!   to another request, only save this one a statement.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graft_keys::EntityKey;
use tokio::sync::Notify;

use crate::ResolveError;

/// DataLoader settings, with defaults suited to relation fields.
#[derive(Debug, Clone, Copy)]
pub struct LoaderConfig {
    /// How long the first load of a batch waits for others to join (default 0: only until the
    /// other ready tasks of the request have run).
    pub window: Duration,
    /// Most keys per statement (default 1,000).
    pub max_batch: usize,
}

impl Default for LoaderConfig {
    fn default() -> LoaderConfig {
        LoaderConfig {
            window: Duration::ZERO,
            max_batch: 1_000,
        }
    }
}

/// What one loaded key resolved to: a shared batch result and the key's position in it.
pub(crate) type Loaded<T> = Result<(Arc<T>, u32), ResolveError>;

/// The loaders of one request, one per loader key (a relation selection of the plan).
pub(crate) struct Loaders<T> {
    config: LoaderConfig,
    states: Mutex<HashMap<usize, State<T>>>,
}

struct State<T> {
    /// Every key asked for: its result once loaded, `None` while it waits or loads.
    done: HashMap<EntityKey, Option<Loaded<T>>>,
    /// Keys waiting for the next flush.
    pending: Vec<EntityKey>,
    /// Whether a caller has taken charge of flushing `pending`.
    flush_scheduled: bool,
    notify: Arc<Notify>,
}

impl<T> State<T> {
    fn new() -> State<T> {
        State {
            done: HashMap::new(),
            pending: Vec::new(),
            flush_scheduled: false,
            notify: Arc::new(Notify::new()),
        }
    }
}

impl<T: Send + Sync> Loaders<T> {
    /// Loaders with `config`.
    pub(crate) fn new(config: LoaderConfig) -> Loaders<T> {
        Loaders {
            config,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Loads `keys` for loader `id`, calling `fetch` with batches of at most `max_batch` keys;
    /// `fetch` answers a batch with one result whose positions follow the batch's keys. Results
    /// come back in the order of `keys`.
    pub(crate) async fn load<F, Fut>(
        &self,
        id: usize,
        keys: &[EntityKey],
        fetch: F,
    ) -> Vec<Loaded<T>>
    where
        F: Fn(Vec<EntityKey>) -> Fut,
        Fut: Future<Output = Result<T, ResolveError>>,
    {
        let (flusher, notify) = {
            let mut states = self.states.lock().expect("loader lock");
            let state = states.entry(id).or_insert_with(State::new);
            for key in keys {
                if !state.done.contains_key(key) {
                    state.done.insert(key.clone(), None);
                    state.pending.push(key.clone());
                }
            }
            let flusher = !state.flush_scheduled && !state.pending.is_empty();
            state.flush_scheduled |= flusher;
            (flusher, state.notify.clone())
        };
        if flusher {
            if self.config.window.is_zero() {
                // Let the request's other ready loads join this batch.
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(self.config.window).await;
            }
            self.flush(id, &fetch).await;
        }
        loop {
            let notified = notify.notified();
            {
                let states = self.states.lock().expect("loader lock");
                let state = &states[&id];
                let results: Option<Vec<Loaded<T>>> = keys
                    .iter()
                    .map(|key| state.done.get(key).cloned().flatten())
                    .collect();
                if let Some(results) = results {
                    return results;
                }
            }
            notified.await;
        }
    }

    /// Loads everything pending for loader `id`, in batches of `max_batch`.
    async fn flush<F, Fut>(&self, id: usize, fetch: &F)
    where
        F: Fn(Vec<EntityKey>) -> Fut,
        Fut: Future<Output = Result<T, ResolveError>>,
    {
        let batch = {
            let mut states = self.states.lock().expect("loader lock");
            let state = states.get_mut(&id).expect("created by load");
            state.flush_scheduled = false;
            std::mem::take(&mut state.pending)
        };
        let chunks: Vec<Vec<EntityKey>> = batch
            .chunks(self.config.max_batch.max(1))
            .map(<[EntityKey]>::to_vec)
            .collect();
        let results =
            futures_util::future::join_all(chunks.iter().map(|chunk| fetch(chunk.clone()))).await;
        let mut states = self.states.lock().expect("loader lock");
        let state = states.get_mut(&id).expect("created by load");
        for (chunk, result) in chunks.into_iter().zip(results) {
            let result = result.map(Arc::new);
            for (position, key) in chunk.into_iter().enumerate() {
                let loaded = match &result {
                    Ok(shared) => Ok((
                        shared.clone(),
                        u32::try_from(position).expect("batch fits u32"),
                    )),
                    Err(error) => Err(error.clone()),
                };
                state.done.insert(key, Some(loaded));
            }
        }
        state.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_keys::apollo_compiler::Name;
    use graft_keys::{KeyIndex, KeyValue};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(i: i64) -> EntityKey {
        EntityKey::new(Name::new("T").unwrap(), KeyIndex(0), vec![KeyValue::Int(i)])
    }

    #[tokio::test]
    async fn concurrent_loads_coalesce_into_batches_and_hits_are_cached() {
        let loaders: Loaders<Vec<i64>> = Loaders::new(LoaderConfig {
            max_batch: 3,
            ..LoaderConfig::default()
        });
        let calls = AtomicUsize::new(0);
        let fetch = |keys: Vec<EntityKey>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(keys
                    .iter()
                    .map(|k| match k.values()[0] {
                        KeyValue::Int(i) => i * 10,
                        _ => 0,
                    })
                    .collect())
            }
        };
        let a = [key(1), key(2)];
        let b = [key(2), key(3), key(4)];
        let (ra, rb) =
            futures_util::join!(loaders.load(7, &a, &fetch), loaders.load(7, &b, &fetch));
        // Four distinct keys, batches of three: two statements, whoever asked.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let value = |r: &Loaded<Vec<i64>>| {
            let (batch, position) = r.as_ref().unwrap();
            batch[*position as usize]
        };
        assert_eq!(ra.iter().map(value).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(rb.iter().map(value).collect::<Vec<_>>(), [20, 30, 40]);
        let again = loaders.load(7, &[key(3), key(1)], &fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "cached");
        assert_eq!(again.iter().map(value).collect::<Vec<_>>(), [30, 10]);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_its_keys_only() {
        let loaders: Loaders<Vec<i64>> = Loaders::new(LoaderConfig {
            max_batch: 1,
            ..LoaderConfig::default()
        });
        let fetch = |keys: Vec<EntityKey>| async move {
            if keys[0] == key(2) {
                Err(ResolveError::NoSource("T".into()))
            } else {
                Ok(vec![1])
            }
        };
        let results = loaders.load(1, &[key(1), key(2)], &fetch).await;
        assert!(results[0].is_ok() && results[1].is_err());
    }
}
