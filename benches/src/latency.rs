//! A TCP proxy that delays every chunk by a fixed time: a database "on the network" on a machine
//! where every database is on loopback (and the kernel has no `netem`).
//!
//! Each direction of each connection forwards what it reads after `delay`, keeping the order;
//! chunks in flight overlap, so the proxy adds `delay` per direction, not per chunk. A
//! request-response protocol (PostgreSQL's extended protocol, MariaDB's binary protocol) thus
//! pays one round trip of `2 * delay` per statement, as a database that far away would.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Starts a proxy to `upstream` on an ephemeral loopback port and returns its address. It runs
/// until the process ends.
pub(crate) async fn proxy(upstream: SocketAddr, delay: Duration) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::join!(
                    forward(client_read, server_write, delay),
                    forward(server_read, client_write, delay),
                );
            });
        }
    });
    Ok(address)
}

/// Copies `from` to `to`, each chunk `delay` after it was read.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buffer).await {
            if n == 0
                || sender
                    .send((Instant::now() + delay, buffer[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// The median round trip of a small message through a proxy with `delay`, to an echo server:
/// what the delay really adds (the runtime's timer rounds sleeps up to its 1 ms ticks).
pub(crate) async fn round_trip(delay: Duration) -> anyhow::Result<Duration> {
    let echo = TcpListener::bind("127.0.0.1:0").await?;
    let upstream = echo.local_addr()?;
    tokio::spawn(async move {
        if let Ok((mut socket, _)) = echo.accept().await {
            let mut buffer = [0u8; 64];
            while let Ok(n) = socket.read(&mut buffer).await {
                if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut client = TcpStream::connect(proxy(upstream, delay).await?).await?;
    client.set_nodelay(true)?;
    let mut samples = Vec::new();
    let mut answer = [0u8; 4];
    for _ in 0..50 {
        let started = std::time::Instant::now();
        client.write_all(b"ping").await?;
        client.read_exact(&mut answer).await?;
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    Ok(samples[samples.len() / 2])
}

/// `url` with its `host:port` replaced by `address`.
pub(crate) fn via(url: &str, address: SocketAddr) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("{url}: no scheme"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority.rsplit_once('@').map(|(user, _)| user);
    Ok(match user {
        Some(user) => format!("{scheme}://{user}@{address}/{path}"),
        None => format!("{scheme}://{address}/{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_their_user_and_path() {
        let address: SocketAddr = "127.0.0.1:6000".parse().expect("an address");
        assert_eq!(
            via("postgres://postgres@127.0.0.1:5432/graft_bench", address).expect("valid"),
            "postgres://postgres@127.0.0.1:6000/graft_bench"
        );
        assert_eq!(
            via("mysql://root@127.0.0.1:3306/graft_bench", address).expect("valid"),
            "mysql://root@127.0.0.1:6000/graft_bench"
        );
    }

    #[tokio::test]
    async fn a_round_trip_costs_twice_the_delay() {
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let upstream = echo.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.expect("accepted");
            let mut buffer = [0u8; 16];
            while let Ok(n) = socket.read(&mut buffer).await {
                if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        });
        let address = proxy(upstream, Duration::from_millis(20))
            .await
            .expect("started");
        let mut client = TcpStream::connect(address).await.expect("connected");
        let started = std::time::Instant::now();
        client.write_all(b"ping").await.expect("written");
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).await.expect("read");
        assert_eq!(&answer, b"ping");
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "{:?}",
            started.elapsed()
        );
    }
}
