//! A throwaway Redis Cluster on loopback, from the machine's `redis-server` and `redis-cli`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis Cluster of its own: `nodes` masters (no replicas, no persistence) on free loopback
/// ports, each slot assigned, its files in a directory of its own. Every node is killed and the
/// directory removed when the guard is dropped.
#[derive(Debug)]
pub struct RedisCluster {
    dir: PathBuf,
    ports: Vec<u16>,
    servers: Vec<Option<Child>>,
}

impl RedisCluster {
    /// Starts `nodes` (at least 3, as `redis-cli --cluster create` asks) and waits until the
    /// cluster answers `cluster_state:ok` on each. Panics, saying why, when `redis-server` is
    /// missing or the cluster does not form within 30 seconds.
    pub fn start(nodes: usize) -> RedisCluster {
        assert!(nodes >= 3, "a Redis Cluster needs at least 3 masters");
        let dir = std::env::temp_dir().join(crate::unique_name("graft_redis_cluster"));
        std::fs::create_dir_all(&dir).expect("a directory for the cluster's files");
        let mut cluster = RedisCluster {
            dir,
            ports: Vec::new(),
            servers: Vec::new(),
        };
        for _ in 0..nodes {
            let port = free_port();
            let server = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", "2000"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", &cluster.dir.display().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (Debian's redis-server package) on the PATH");
            cluster.ports.push(port);
            cluster.servers.push(Some(server));
            // Bound before the next port is picked, so no two nodes pick the same.
            wait_for_port(port);
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("redis-cli on the PATH");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in &cluster.ports {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli on the PATH");
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the Redis Cluster did not form in 30 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        cluster
    }

    /// The nodes' URLs (`redis://127.0.0.1:<port>`), the seeds a client is given.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for server in self.servers.iter_mut().filter_map(Option::take) {
            let mut server = server;
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free on loopback now whose cluster bus port (10,000 above it) is free too, picked
/// from 20000-29999 (another process may take it before it is used, which a test run makes
/// unlikely).
fn free_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = (nanos ^ std::process::id()) % 10_000;
    (0..10_000)
        .map(|offset| 20_000 + u16::try_from((start + offset) % 10_000).expect("below 10,000"))
        .find(|&port| {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        })
        .expect("a free loopback port between 20000 and 29999")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not open port {port} in 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Redis key prefix of its own on the machine's Redis (127.0.0.1:6379): every key under it
/// is deleted when the guard is dropped, passed or failed.
#[derive(Debug)]
pub struct RedisPrefix {
    name: String,
}

impl RedisPrefix {
    /// A unique prefix starting with `prefix`.
    pub fn new(prefix: &str) -> RedisPrefix {
        RedisPrefix {
            name: crate::unique_name(prefix),
        }
    }

    /// The prefix (no `:` at its end).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many keys under the prefix match `pattern` (a Redis glob, after the prefix) now;
    /// 0 when Redis cannot be asked.
    pub fn count(&self, pattern: &str) -> usize {
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379", "EVAL"])
            .arg("return #redis.call('KEYS', ARGV[1])")
            .args(["0", &format!("{}{pattern}", self.name)])
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        // One script: KEYS is fine on a test server, and the prefix is unique.
        let _ = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379", "EVAL"])
            .arg("local k = redis.call('KEYS', ARGV[1]) for i = 1, #k do redis.call('DEL', k[i]) end return #k")
            .args(["0", &format!("{}*", self.name)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
