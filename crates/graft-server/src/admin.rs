//! The admin API: the tenants kept in the database, managed over HTTP behind a credential of
//! its own (`[admin] token_sha256`), never a tenant's.
//!
//! - `GET /admin/tenants`: every tenant.
//! - `POST /admin/tenants` `{"id", "isolation"?: "schema" | "rows", "schema"?, "slug"?,
//!   "tier"?, "metadata"?}`: creates one (its schema migrated first; its isolation its tier's
//!   when not given); 201.
//! - `POST /admin/tenants/{id}/suspend`, `.../resume`: 200, or 404.
//! - `POST /admin/tenants/{id}/api-keys`: a new API key, shown once; 201. An optional body
//!   `{"scopes": ["Order:create", "*:read"]}` limits what its bearer may do.
//! - `DELETE /admin/tenants/{id}`: destroys the tenant and its data; 200, or 404.
//! - `POST /admin/tenants/{id}/promote` `{"schema"?}`: moves a tenant that shares tables to a
//!   schema of its own, suspending it meanwhile; 200 once it is served from there.
//! - `POST /admin/migrations` `{"dryRun"?, "concurrency"?}`: migrates the shared tables and
//!   every tenant's schema; a report per schema (a failure's error goes to the log), 500 when
//!   one failed.
//!
//! Every change takes effect at once on this instance (its tenant cache forgets the tenant)
//! and within `[tenancy] cache_ttl_seconds` on the others. Failures answer
//! `{"error": {"code", "message"}}`; the store's own errors are logged, not sent.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use graft_resolve::{ApiKeyHash, Isolation, TenantRecord, TenantStatus};
use serde_json::{Value, json};

use crate::AppState;
use crate::demo::StartError;
use crate::tenants::NewTenant;

/// The admin routes, for a state with tenants in the database and an admin credential.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    let authorized = axum::middleware::from_fn_with_state(state, authorize);
    Router::new()
        .route("/admin/tenants", get(list).post(create))
        .route("/admin/tenants/{id}/suspend", post(suspend))
        .route("/admin/tenants/{id}/resume", post(resume))
        .route("/admin/tenants/{id}/api-keys", post(api_key))
        .route("/admin/tenants/{id}", delete(destroy))
        .route("/admin/tenants/{id}/promote", post(promote))
        .route("/admin/migrations", post(migrate))
        .route_layer(authorized)
}

/// Lets a request through when its bearer token hashes to the configured admin hash.
async fn authorize(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let granted = state.admin_token.is_some_and(|expected| {
        bearer(request.headers()).is_some_and(|token| ApiKeyHash::of(token) == expected)
    });
    if granted {
        return next.run(request).await;
    }
    let mut response = failure(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "the admin API needs the admin token as a bearer token",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"graft-admin\""),
    );
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// A lifecycle failure as an answer: what the caller got wrong as 4xx with its message, the
/// store's own failure as 500 without it.
fn failed(error: StartError) -> Response {
    match error {
        StartError::Database(graft_db::DbError::Exists(message)) => {
            failure(StatusCode::CONFLICT, "CONFLICT", &message)
        }
        StartError::Tenancy(message)
        | StartError::Database(graft_db::DbError::Mapping(message)) => {
            failure(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message)
        }
        other => {
            tracing::error!(error = %other, "admin: the tenant store failed");
            failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "TENANT_STORE_FAILED",
                "the tenant store failed; see graft's log",
            )
        }
    }
}

fn tenant_json(tenant: &TenantRecord) -> Value {
    let (isolation, schema) = match &tenant.isolation {
        Isolation::None => ("none", None),
        Isolation::Schema(schema) => ("schema", Some(schema.to_string())),
        Isolation::Rows => ("rows", None),
    };
    json!({
        "id": tenant.id.as_str(),
        "status": match tenant.status {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        },
        "isolation": isolation,
        "schema": schema,
        "slug": tenant.slug,
        "tier": tenant.tier,
        "metadata": tenant
            .metadata
            .as_deref()
            .and_then(|text| serde_json::from_str::<Value>(text).ok()),
    })
}

fn control(state: &AppState) -> &crate::tenants::TenantControl {
    state
        .tenant_control
        .as_deref()
        .expect("the admin routes exist only with tenants in the database")
}

async fn list(State(state): State<AppState>) -> Response {
    match control(&state).list().await {
        Ok(tenants) => {
            let tenants: Vec<Value> = tenants.iter().map(tenant_json).collect();
            axum::Json(json!({ "tenants": tenants })).into_response()
        }
        Err(error) => failed(error),
    }
}

async fn create(State(state): State<AppState>, body: Bytes) -> Response {
    let new: NewTenant = match serde_json::from_slice(&body) {
        Ok(new) => new,
        Err(error) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!(
                    "the body is not a tenant (id, isolation, schema, slug, tier, metadata): \
                     {error}"
                ),
            );
        }
    };
    let id = new.id.clone();
    match control(&state).create(new).await {
        Ok(migrated) => {
            tracing::info!(tenant = %id, "admin: tenant created");
            let body = json!({ "id": id, "migrationsApplied": migrated.applied });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        Err(error) => failed(error),
    }
}

async fn set_status(state: &AppState, id: &str, status: TenantStatus) -> Response {
    match control(state).set_status(id, status).await {
        Ok(true) => {
            tracing::info!(tenant = %id, ?status, "admin: tenant status set");
            axum::Json(json!({ "id": id })).into_response()
        }
        Ok(false) => failure(StatusCode::NOT_FOUND, "NOT_FOUND", "no such tenant"),
        Err(error) => failed(error),
    }
}

async fn suspend(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    set_status(&state, &id, TenantStatus::Suspended).await
}

async fn resume(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    set_status(&state, &id, TenantStatus::Active).await
}

async fn api_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // An optional body: `{"scopes": ["Order:create", "*:read"]}`.
    let scopes: Option<Vec<String>> = if body.is_empty() {
        None
    } else {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NewKey {
            scopes: Option<Vec<String>>,
        }
        match serde_json::from_slice::<NewKey>(&body) {
            Ok(new) => new.scopes,
            Err(error) => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    &format!("the body is {{\"scopes\": [...]}} or empty: {error}"),
                );
            }
        }
    };
    match control(&state).new_api_key(&id, scopes.as_deref()).await {
        Ok(key) => (
            StatusCode::CREATED,
            axum::Json(json!({ "id": id, "apiKey": key })),
        )
            .into_response(),
        Err(StartError::Tenancy(message)) if message.starts_with("no tenant") => {
            failure(StatusCode::NOT_FOUND, "NOT_FOUND", "no such tenant")
        }
        Err(StartError::Tenancy(message)) if message.starts_with("scope") => {
            failure(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message)
        }
        Err(error) => failed(error),
    }
}

async fn destroy(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match control(&state).destroy(&id).await {
        Ok(true) => {
            tracing::info!(tenant = %id, "admin: tenant destroyed");
            // A tenant re-created under the same id must not be served the old rows.
            if let (Some(cache), Ok(tenant)) = (&state.cache, graft_resolve::TenantId::new(&id)) {
                cache.invalidate_tenant(&tenant).await;
            }
            axum::Json(json!({ "id": id })).into_response()
        }
        Ok(false) => failure(StatusCode::NOT_FOUND, "NOT_FOUND", "no such tenant"),
        Err(error) => failed(error),
    }
}

/// `POST /admin/tenants/{id}/promote`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Promotion {
    #[serde(default)]
    schema: Option<String>,
}

/// Moves a tenant that shares tables to a schema of its own; answers once it is served from
/// there (after it was suspended for the tenant cache's lifetime).
async fn promote(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let promotion: Promotion = match parse_or_default(&body) {
        Ok(promotion) => promotion,
        Err(error) => {
            let message = format!("the body is not a promotion ({{\"schema\"?}}): {error}");
            return failure(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        }
    };
    match control(&state)
        .promote(&id, promotion.schema.as_deref())
        .await
    {
        Ok(migrated) => {
            tracing::info!(tenant = %id, "admin: tenant promoted");
            axum::Json(json!({ "id": id, "migrationsApplied": migrated.applied })).into_response()
        }
        Err(StartError::Tenancy(message)) if message.starts_with("no tenant") => {
            failure(StatusCode::NOT_FOUND, "NOT_FOUND", "no such tenant")
        }
        Err(error) => failed(error),
    }
}

/// `body` as JSON, or the default when it is empty.
fn parse_or_default<T: Default + serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, serde_json::Error> {
    if body.is_empty() {
        Ok(T::default())
    } else {
        serde_json::from_slice(body)
    }
}

/// `POST /admin/migrations`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MigrationRun {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    concurrency: Option<usize>,
}

/// Applies the pending migrations to the shared tables and every tenant's schema (or, with
/// `dryRun`, says what would be applied): a report per schema, and 500 when one failed.
async fn migrate(State(state): State<AppState>, body: Bytes) -> Response {
    let run: MigrationRun = match parse_or_default(&body) {
        Ok(run) => run,
        Err(error) => {
            let message = format!("the body is not a migration run (dryRun, concurrency): {error}");
            return failure(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        }
    };
    let concurrency = run.concurrency.unwrap_or(4).clamp(1, 64);
    let reports = match control(&state)
        .migrate_all(run.dry_run, concurrency, |_, _, _| {})
        .await
    {
        Ok(reports) => reports,
        Err(error) => return failed(error),
    };
    let failed_count = reports.iter().filter(|r| r.outcome.is_err()).count();
    let targets: Vec<Value> = reports
        .iter()
        .map(|report| {
            let ms = u64::try_from(report.took.as_millis()).unwrap_or(u64::MAX);
            match &report.outcome {
                Ok(migrated) => json!({
                    "target": report.target,
                    "applied": migrated.applied,
                    "upToDate": migrated.up_to_date,
                    "ms": ms,
                }),
                Err(error) => {
                    tracing::error!(target = %report.target, %error, "admin: a migration failed");
                    json!({ "target": report.target, "failed": true, "ms": ms })
                }
            }
        })
        .collect();
    let status = if failed_count == 0 {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let body = json!({ "dryRun": run.dry_run, "failed": failed_count, "targets": targets });
    (status, axum::Json(body)).into_response()
}
