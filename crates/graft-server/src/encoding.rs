//! Content encodings both ways, with tower-http's layers ([ADR 0016]).
//!
//! - **Requests**: a body sent with `Content-Encoding: gzip`, `br` or `deflate` (what Apollo
//!   Router's `traffic_shaping` compression sends) is decompressed as the handler reads it, so
//!   the body limit counts decompressed bytes: a small compressed bomb stops at the limit
//!   ([`read_body`]: 413), never inflated into memory. Any other encoding is refused with a
//!   JSON 415 that names the ones accepted ([`refuse_unknown_encoding`]). zstd is not among
//!   them: its decoder sizes its window from the frame header (up to 128 MiB from a 20-byte
//!   request), and tower-http offers no way to cap it.
//! - **Responses**: compressed with zstd, br, gzip or deflate when the client's
//!   `Accept-Encoding` asks for one and the body is at least
//!   [`HttpLimits::compression_min_bytes`] long, at the fastest levels (gzip 1, brotli 0,
//!   zstd 1): between a gateway and a subgraph, CPU is dearer than bytes.
//!
//! [ADR 0016]: ../../../docs/adr/0016-batching-and-compression.md
//! [`HttpLimits::compression_min_bytes`]: crate::HttpLimits::compression_min_bytes

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::compression::predicate::{And, Predicate as _, SizeAbove};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::decompression::RequestDecompressionLayer;

use crate::HttpLimits;
use crate::http::{self, ResponseMedia};

/// The request encodings accepted, as `Content-Encoding` spells them.
const REQUEST_ENCODINGS: [&str; 4] = ["gzip", "br", "deflate", "identity"];

/// Refuses a request body in an encoding graft does not decompress: 415
/// `UNSUPPORTED_CONTENT_ENCODING`, with `Accept-Encoding` naming those it does. A known one is
/// passed on in lowercase (content codings are case-insensitive; tower-http compares bytes).
pub(crate) async fn refuse_unknown_encoding(mut request: Request, next: Next) -> Response {
    let mut values = request.headers().get_all(header::CONTENT_ENCODING).iter();
    let Some(first) = values.next() else {
        return next.run(request).await;
    };
    let shown = String::from_utf8_lossy(first.as_bytes())
        .trim()
        .to_ascii_lowercase();
    let several = values.next().is_some() || shown.contains(',');
    if !several && let Some(known) = REQUEST_ENCODINGS.iter().find(|known| **known == shown) {
        request.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(known),
        );
        return next.run(request).await;
    }
    let reason = if several {
        "several content encodings are not supported: send the body in one of".to_owned()
    } else {
        format!("content encoding `{shown}` is not supported: send the body in")
    };
    let mut response = http::transport_error(
        ResponseMedia::from_accept(request.headers()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_CONTENT_ENCODING",
        format!("{reason} gzip, br, deflate or identity"),
    );
    response.headers_mut().insert(
        header::ACCEPT_ENCODING,
        header::HeaderValue::from_static("gzip, br, deflate, identity"),
    );
    response
}

/// Decompresses request bodies in the encodings of [`REQUEST_ENCODINGS`] as they are read.
pub(crate) fn decompression() -> RequestDecompressionLayer {
    RequestDecompressionLayer::new().no_zstd()
}

/// When a response is compressed: tower-http's defaults (not images, not gRPC, not event
/// streams), and only from `compression_min_bytes` on.
pub(crate) type CompressWhen = And<DefaultPredicate, SizeAbove>;

/// Compresses responses for clients that ask, from `limits.compression_min_bytes` on; `None`
/// when compression is off.
pub(crate) fn compression(limits: &HttpLimits) -> Option<CompressionLayer<CompressWhen>> {
    limits.compression.then(|| {
        // `SizeAbove` compresses bodies of at least its size.
        let size = SizeAbove::new(limits.compression_min_bytes);
        CompressionLayer::new()
            .quality(tower_http::CompressionLevel::Fastest)
            .compress_when(DefaultPredicate::new().and(size))
    })
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is (once decompressed) larger than the limit.
    TooLarge,
    /// It could not be decompressed, or the connection failed while sending it.
    Unreadable(String),
}

/// Reads `body` (decompressed, if it was sent compressed) up to `limit` bytes. Reading stops
/// as soon as the limit is passed, so no more than `limit` bytes are ever held.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let error = error.into_inner();
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
            while let Some(cause) = source {
                if cause.is::<http_body_util::LengthLimitError>() {
                    return Err(BodyError::TooLarge);
                }
                source = cause.source();
            }
            Err(BodyError::Unreadable(error.to_string()))
        }
    }
}
