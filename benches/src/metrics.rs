//! The metrics run (`--runs metrics`, PostgreSQL): what keeping Prometheus metrics, exporting
//! OpenTelemetry spans, and counting requests against a rate limit cost a 100-key `_entities`:
//! graft with none, with `[metrics]`, with `[metrics]` and `[telemetry]` (request spans, the
//! default, then every graft span, exported over OTLP to a sink in this process), and with
//! `[rate_limits]` (a limit never reached, in process and in Redis), interleaved in one run.

use crate::Settings;
use crate::dataset::Target;
use crate::measure::{Compared, KeySet, compared_markdown, interleaved};
use crate::server::Graft;

/// Times 100-key `_entities` with neither layer, with metrics, and with rate limits.
pub(crate) async fn run(
    settings: &Settings,
    target: &Target,
    keys: &KeySet,
) -> anyhow::Result<Vec<Compared>> {
    let off = Graft::start_with(settings, "metrics-off", target, "", "").await?;
    let on = Graft::start_with(
        settings,
        "metrics-on",
        target,
        "",
        "[metrics]\nenabled = true\n",
    )
    .await?;
    let sink = otlp_sink().await?;
    let traced = Graft::start_with(
        settings,
        "metrics-tracing-on",
        target,
        "",
        &format!(
            "[metrics]\nenabled = true\n[telemetry]\notlp_endpoint = \"http://{sink}/v1/traces\"\n"
        ),
    )
    .await?;
    let every_span = Graft::start_with(
        settings,
        "metrics-every-span-on",
        target,
        "",
        &format!(
            "[metrics]\nenabled = true\n[telemetry]\notlp_endpoint = \"http://{sink}/v1/traces\"\n\
             filter = \"info,graft_resolve=debug,graft_db=debug,graft_cache=debug\"\n"
        ),
    )
    .await?;
    let limited = Graft::start_with(
        settings,
        "rate-limits-on",
        target,
        "",
        "[rate_limits]\ndefault = { requests_per_second = 1000000 }\n",
    )
    .await?;
    let shared = Graft::start_with(
        settings,
        "rate-limits-redis",
        target,
        "",
        "[rate_limits]\nredis_url = \"redis://127.0.0.1:6379\"\nkey_prefix = \"graft_bench_rl\"\n\
         default = { requests_per_second = 1000000 }\n",
    )
    .await?;
    interleaved(
        settings,
        &[
            ("neither", &off),
            ("metrics on", &on),
            ("metrics and tracing on", &traced),
            ("metrics and every span", &every_span),
            ("rate limits on", &limited),
            ("rate limits in Redis", &shared),
        ],
        keys,
        None,
    )
    .await
}

/// An OTLP/HTTP endpoint that takes every export and answers 200, so that exporting costs
/// what it would against a collector on the same host.
async fn otlp_sink() -> anyhow::Result<std::net::SocketAddr> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0_u8; 1 << 16];
                let mut request = Vec::new();
                loop {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                    // One request per turn: headers, then the body its length says.
                    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse().ok())
                        .unwrap_or(0);
                    if request.len() < end + 4 + length {
                        continue;
                    }
                    request.drain(..end + 4 + length);
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if stream.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(address)
}

/// The metrics table.
pub(crate) fn markdown(rows: &[Compared]) -> String {
    compared_markdown("graft", rows)
}
