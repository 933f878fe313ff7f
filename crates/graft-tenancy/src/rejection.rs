//! Why a request gets no tenant: what the client is told, and what only the log is told.

use std::fmt;

use http::StatusCode;

/// The kinds of rejection. Each fixes the HTTP status, the code and the message a client sees,
/// so two rejections of one kind are byte-identical to the client whatever their cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// 401 `UNAUTHENTICATED`: a credential or tenant-naming input is bad (forged, expired,
    /// malformed), or names a tenant the store does not know. One kind for both, so that a
    /// caller cannot tell an unknown tenant from a bad credential and enumerate tenants.
    Unauthenticated,
    /// 401 `TENANT_REQUIRED`: nothing in the request names a tenant, and the server needs one.
    TenantRequired,
    /// 403 `TENANT_NOT_GRANTED`: a credential names one tenant while the request's tenant
    /// header or host names another.
    TenantNotGranted,
    /// 403 `TENANT_SUSPENDED`: the tenant exists and is suspended.
    TenantSuspended,
    /// 503 `TENANT_STORE_UNAVAILABLE`: the tenant store could not answer.
    StoreUnavailable,
}

impl RejectionKind {
    /// The HTTP status of the response.
    pub const fn status(self) -> StatusCode {
        match self {
            RejectionKind::Unauthenticated | RejectionKind::TenantRequired => {
                StatusCode::UNAUTHORIZED
            }
            RejectionKind::TenantNotGranted | RejectionKind::TenantSuspended => {
                StatusCode::FORBIDDEN
            }
            RejectionKind::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable code a client sees (e.g. in a GraphQL error's `extensions.code`).
    pub const fn code(self) -> &'static str {
        match self {
            RejectionKind::Unauthenticated => "UNAUTHENTICATED",
            RejectionKind::TenantRequired => "TENANT_REQUIRED",
            RejectionKind::TenantNotGranted => "TENANT_NOT_GRANTED",
            RejectionKind::TenantSuspended => "TENANT_SUSPENDED",
            RejectionKind::StoreUnavailable => "TENANT_STORE_UNAVAILABLE",
        }
    }

    /// The message a client sees. Fixed text: it never echoes the request.
    pub const fn message(self) -> &'static str {
        match self {
            RejectionKind::Unauthenticated => {
                "the request's credentials do not name a tenant this server serves"
            }
            RejectionKind::TenantRequired => "no credentials in the request name a tenant",
            RejectionKind::TenantNotGranted => {
                "the request's credentials do not grant the tenant the request names"
            }
            RejectionKind::TenantSuspended => "the tenant is suspended",
            RejectionKind::StoreUnavailable => {
                "the tenant directory is unavailable; try again later"
            }
        }
    }
}

/// A request refused a tenant. The server answers with [`status`](Rejection::status),
/// [`code`](Rejection::code) and [`message`](Rejection::message), and logs
/// [`reason`](Rejection::reason), which is never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    reason: String,
}

impl Rejection {
    /// A rejection of `kind`, with `reason` for the log.
    pub fn new(kind: RejectionKind, reason: impl Into<String>) -> Rejection {
        Rejection {
            kind,
            reason: reason.into(),
        }
    }

    /// The kind, which fixes everything the client sees.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The code the client sees.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message the client sees.
    pub fn message(&self) -> &'static str {
        self.kind.message()
    }

    /// Which resolver refused and why, for the server log only: it may quote (a bounded,
    /// escaped excerpt of) what the request sent.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code(),
            self.status().as_u16(),
            self.reason
        )
    }
}

impl std::error::Error for Rejection {}

/// The longest excerpt of request input a [`Rejection::reason`] quotes, in characters.
const EXCERPT_CHARS: usize = 80;

/// `input`, quoted and escaped for a log line (no raw newlines or control characters), cut to
/// [`EXCERPT_CHARS`] characters, with its full length when it was cut.
pub(crate) fn excerpt(input: &[u8]) -> String {
    let head = &input[..input.len().min(EXCERPT_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let mut chars = text.chars();
    let cut: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() || head.len() < input.len() {
        format!("{cut:?}... ({} bytes)", input.len())
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_fix_what_the_client_sees() {
        let a = Rejection::new(RejectionKind::Unauthenticated, "jwt: InvalidSignature");
        let b = Rejection::new(RejectionKind::Unauthenticated, "store: no tenant \"x\"");
        assert_eq!(
            (a.status(), a.code(), a.message()),
            (b.status(), b.code(), b.message())
        );
        assert_ne!(a.reason(), b.reason());
        assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            RejectionKind::StoreUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(RejectionKind::TenantSuspended.code(), "TENANT_SUSPENDED");
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt(b"acme"), "\"acme\"");
        assert_eq!(excerpt(b"a\nb"), "\"a\\nb\"");
        let long = vec![b'x'; 1 << 20];
        let cut = excerpt(&long);
        assert!(cut.len() < 120, "{cut}");
        assert!(cut.ends_with("(1048576 bytes)"), "{cut}");
        assert_eq!(excerpt(&[0xff, b'a']), "\"\u{fffd}a\"");
        let unicode = "ü".repeat(200);
        assert!(excerpt(unicode.as_bytes()).contains("(400 bytes)"));
    }
}
