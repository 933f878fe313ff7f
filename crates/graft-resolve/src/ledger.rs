//! Idempotency keys: what a unit of work keeps of a `/batch` request so that a retry replays
//! its answer instead of writing twice.
//!
//! A key is kept per tenant and caller. Its batch row holds a hash of the request body, who
//! holds it now and until when (the lease of the request running it), when it expires, and,
//! once the batch ran, its response. In a batch that commits each operation on its own, each
//! committed operation's result is kept too, in the operation's own transaction, so that a
//! retry after a crash replays what committed and runs only the rest.

/// Where an idempotency key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerKey {
    /// The tenant.
    pub tenant: crate::TenantId,
    /// Who called (`jwt:<sub>`, `api_key:<hash>`, `anonymous`).
    pub caller: String,
    /// The `Idempotency-Key` header's value.
    pub key: String,
}

/// A claim on a key: taken when the key is new, expired, or held by a request whose lease
/// ran out before it finished.
#[derive(Debug, Clone, Copy)]
pub struct KeyClaim<'a> {
    /// The key.
    pub key: &'a LedgerKey,
    /// The SHA-256 of the request body, hex.
    pub body_hash: &'a str,
    /// Who claims it: a token unique to this request.
    pub holder: &'a str,
    /// Now, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Until when the claim holds if the request never finishes (a crash).
    pub leased_until_ms: u64,
    /// When the key and its response are forgotten.
    pub expires_at_ms: u64,
}

/// What the ledger holds for a key after a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The hash of the body the key was first used with.
    pub body_hash: String,
    /// Who holds it: the claimant's token when the claim was taken.
    pub holder: String,
    /// The batch's response, once it ran.
    pub response: Option<String>,
    /// The results of operations committed on their own, by operation id.
    pub operations: Vec<(String, String)>,
}

/// Milliseconds as the ledger stores them: 20 digits, so that text order is time order in
/// every database.
pub fn ledger_time(ms: u64) -> String {
    format!("{ms:020}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ledger_times_sort_as_text() {
        let (a, b) = (super::ledger_time(999), super::ledger_time(1_000));
        assert!(a < b);
        assert_eq!(a.len(), 20);
        assert_eq!(super::ledger_time(u64::MAX).len(), 20);
    }
}
