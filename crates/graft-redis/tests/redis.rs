//! One [`Redis`] against the machine's Redis and against a Redis Cluster of three real nodes.

use std::time::Duration;

use graft_redis::{Redis, RedisTarget};
use graft_testkit::{RedisCluster, unique_name};

/// Writes three keys of one hash slot and reads them back with one `MGET`, and runs a script
/// over them: what the entity cache does, on whichever Redis `target` is.
async fn keys_of_one_slot_round_trip(target: RedisTarget) {
    let redis = Redis::new(&target, Duration::from_secs(2)).expect("a well-formed target");
    let tag = unique_name("graft_redis_test");
    let keys: Vec<String> = (0..3).map(|i| format!("{{{tag}}}:{i}")).collect();
    let written = keys.clone();
    redis
        .call(|mut connection| async move {
            let mut pipe = redis::pipe();
            for (i, key) in written.iter().enumerate() {
                pipe.set_ex(key, i, 60).ignore();
            }
            pipe.query_async::<()>(&mut connection).await
        })
        .await
        .expect("written");
    let read = keys.clone();
    let values: Vec<Option<i64>> = redis
        .call(|mut connection| async move {
            redis::cmd("MGET")
                .arg(&read)
                .query_async(&mut connection)
                .await
        })
        .await
        .expect("read");
    assert_eq!(values, vec![Some(0), Some(1), Some(2)]);
    let script = redis::Script::new("return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])");
    let removed = keys.clone();
    let deleted: i64 = redis
        .call(|mut connection| async move {
            let mut invocation = script.prepare_invoke();
            for key in &removed {
                invocation.key(key);
            }
            invocation.invoke_async(&mut connection).await
        })
        .await
        .expect("deleted");
    assert_eq!(deleted, 3);
    assert_eq!(
        redis
            .stats()
            .failures
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn a_single_node() {
    keys_of_one_slot_round_trip(RedisTarget::Node("redis://127.0.0.1:6379".into())).await;
}

#[tokio::test]
async fn a_three_node_cluster() {
    let cluster = RedisCluster::start(3);
    keys_of_one_slot_round_trip(RedisTarget::Cluster(cluster.urls())).await;
    // Any one node is a seed from which the whole cluster is found.
    keys_of_one_slot_round_trip(RedisTarget::Cluster(vec![cluster.urls()[2].clone()])).await;
}

#[tokio::test]
async fn a_subscription_on_one_node_hears_what_another_node_publishes() {
    use futures_util::StreamExt as _;
    let cluster = RedisCluster::start(3);
    let redis = Redis::new(
        &RedisTarget::Cluster(cluster.urls()),
        Duration::from_secs(2),
    )
    .expect("a well-formed target");
    let channel = unique_name("graft_redis_channel");
    let mut messages = redis
        .subscribe(&channel)
        .await
        .expect("subscribed")
        .into_on_message();
    let publisher = redis::Client::open(cluster.urls()[1].as_str()).expect("a URL");
    let mut connection = publisher
        .get_multiplexed_async_connection()
        .await
        .expect("connected");
    redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("hello")
        .query_async::<i64>(&mut connection)
        .await
        .expect("published");
    let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .expect("a message within 5 s")
        .expect("the subscription open");
    assert_eq!(message.get_payload::<String>().expect("text"), "hello");
}
