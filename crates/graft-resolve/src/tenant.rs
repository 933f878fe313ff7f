//! What graft knows of a tenant, and the [`TenantStore`] trait it is looked up through.
//!
//! Like [`crate::EntitySource`], the trait is defined here without I/O and implemented beside:
//! in memory from configuration (graft-tenancy), in a database table (graft-db).

use std::fmt;
use std::str::FromStr;

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::{Isolation, ResolveError, TenantId};

/// Whether a tenant may be served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Requests for the tenant are served.
    #[default]
    Active,
    /// Requests for the tenant are refused with 403 `TENANT_SUSPENDED`.
    Suspended,
}

/// What a tenant store knows of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// The tenant's id.
    pub id: TenantId,
    /// Whether the tenant may be served.
    pub status: TenantStatus,
    /// How the tenant's data is kept apart from other tenants'.
    pub isolation: Isolation,
    /// A human-readable short name, for logs and admin tools; never used to resolve a tenant.
    pub slug: Option<String>,
    /// The tenant's tier (say, `premium`): what decided its isolation when it was created,
    /// kept for admin tools and promotion.
    pub tier: Option<String>,
    /// Whatever the operator keeps about the tenant, as JSON text; graft does not read it.
    pub metadata: Option<String>,
}

impl TenantRecord {
    /// An active tenant without a slug.
    pub fn active(id: TenantId, isolation: Isolation) -> TenantRecord {
        TenantRecord {
            id,
            status: TenantStatus::Active,
            isolation,
            slug: None,
            tier: None,
            metadata: None,
        }
    }
}

/// The SHA-256 of an API key: what a tenant store keeps and looks keys up by.
///
/// API keys are long random secrets made by the server's operators, not passwords people pick,
/// so they cannot be guessed from their hash, and a plain unsalted SHA-256 is the right hash:
/// a slow password hash (argon2, bcrypt) adds cost to every request and no safety, and a salt
/// would make a lookup by hash impossible. The store never holds a key itself, so a leak of
/// the store or of the configuration leaks no usable key. Comparing hashes by a map lookup
/// leaks nothing useful through timing: a caller controls the key, not its hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    /// The hash of `key`.
    pub fn of(key: &str) -> ApiKeyHash {
        ApiKeyHash::of_bytes(key.as_bytes())
    }

    /// The hash of `key`, as it came in a header.
    pub fn of_bytes(key: &[u8]) -> ApiKeyHash {
        ApiKeyHash(Sha256::digest(key).into())
    }

    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for ApiKeyHash {
    fn from(bytes: [u8; 32]) -> ApiKeyHash {
        ApiKeyHash(bytes)
    }
}

impl FromStr for ApiKeyHash {
    type Err = ResolveError;

    /// Parses 64 hex digits (either case), as `sha256sum` and [`Display`](fmt::Display) write
    /// them.
    fn from_str(hex: &str) -> Result<ApiKeyHash, ResolveError> {
        fn digit(b: u8) -> Option<u8> {
            match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => None,
            }
        }
        let bad = || ResolveError::InvalidApiKeyHash;
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (digit(pair[0]).ok_or_else(bad)? << 4) | digit(pair[1]).ok_or_else(bad)?;
        }
        Ok(ApiKeyHash(bytes))
    }
}

impl fmt::Display for ApiKeyHash {
    /// Writes the hash as 64 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHash({self})")
    }
}

/// Where tenants are looked up: by id, and by the hash of an API key.
///
/// Implementations may do I/O (a database query); graft-tenancy's `StaticTenants` answers from
/// memory and graft-db's `SqlTenantStore` from a table. An
/// `Err` means the store could not answer, and the request is refused with 503; `Ok(None)`
/// means the store knows no such tenant or key.
pub trait TenantStore: Send + Sync {
    /// The tenant with `id`, if the store knows it.
    fn tenant<'a>(
        &'a self,
        id: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<TenantRecord>, ResolveError>>;

    /// The tenant an API key with this hash belongs to, and what the key grants, if the
    /// store knows the key.
    fn tenant_by_api_key<'a>(
        &'a self,
        hash: &'a ApiKeyHash,
    ) -> BoxFuture<'a, Result<Option<ApiKeyGrant>, ResolveError>>;
}

/// What an API key gives its bearer: its tenant, and the scopes it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    /// The tenant the key belongs to.
    pub tenant: TenantRecord,
    /// The `Type:action` scopes the key grants ([`crate::Permissions`]); `None` for a key
    /// that names none, whose bearer gets the tenancy's default scopes.
    pub scopes: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_hashes_round_trip_as_lowercase_hex() {
        // `printf %s secret | sha256sum`
        let known = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let hash = ApiKeyHash::of("secret");
        assert_eq!(hash.to_string(), known);
        assert_eq!(known.parse::<ApiKeyHash>().unwrap(), hash);
        assert_eq!(known.to_uppercase().parse::<ApiKeyHash>().unwrap(), hash);
        assert_eq!(ApiKeyHash::of_bytes(b"secret"), hash);
        for bad in [
            "",
            "abc",
            &known[1..],
            &format!("{known}0"),
            &known.replace('b', "g"),
        ] {
            assert!(bad.parse::<ApiKeyHash>().is_err(), "{bad:?}");
        }
        // Multi-byte characters make a 64-byte string that is not 64 hex digits.
        assert!("é".repeat(32).parse::<ApiKeyHash>().is_err());
    }
}
