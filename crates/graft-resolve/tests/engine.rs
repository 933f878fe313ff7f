//! The engine over an in-memory source: each test runs one operation and compares the whole
//! response with a snapshot (`check`). Null propagation, relations, pages, `_entities` and
//! errors, without a database.

use std::collections::HashMap;
use std::sync::Arc;

use expect_test::{Expect, expect};
use graft_keys::KeyValue;
use graft_resolve::{
    BoxFuture, Capabilities, Engine, EngineConfig, EntitySource, ExecuteOptions, FetchRequest,
    GraphQLRequest, PageRequest, RequestContext, ResolveError, RowSet, SourceErrorKind,
    SourceRouter,
};
use graft_schema::{EntityMapping, SubgraphSchema};
use serde_json::{Value as Json, json};

const SDL: &str = r#"
type Query {
  orgUser(orgId: String!, userId: String!): OrgUser
  order(id: ID!): Order
  orders(first: Int, after: String): OrderConnection!
}
type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
  orgId: String!
  userId: String!
  name: String!
  email: String
  orders(first: Int): [Order!]! @hasMany(fields: "orgId userId")
}
type Order @key(fields: "id") @table(name: "orders") {
  id: ID!
  orgId: String!
  userId: String!
  total: Float!
  user: OrgUser @belongsTo(fields: "orgId userId")
}
interface Ledger @key(fields: "id") { id: ID! }
type OrderConnection { edges: [OrderEdge!]! pageInfo: PageInfo! }
type OrderEdge { cursor: String! node: Order! }
type PageInfo { hasNextPage: Boolean! endCursor: String }
"#;

/// Rows by table, each a JSON object by column name.
struct Tables {
    tables: HashMap<String, Vec<serde_json::Map<String, Json>>>,
    /// Tables whose reads fail, as a database that went away.
    failing: Vec<String>,
}

/// A cell's value as key text, for matching against a key value.
fn text_of(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key_text(value: &KeyValue) -> String {
    match value {
        KeyValue::String(s) => s.to_string(),
        KeyValue::Int(i) => i.to_string(),
        KeyValue::Float(f) => f.get().to_string(),
        KeyValue::Boolean(b) => b.to_string(),
    }
}

impl Tables {
    fn rows(
        &self,
        mapping: &EntityMapping,
    ) -> Result<&[serde_json::Map<String, Json>], ResolveError> {
        if self.failing.contains(&mapping.table.name) {
            return Err(ResolveError::Source {
                source_name: "memory".to_owned(),
                kind: SourceErrorKind::Connection,
                message: "the table went away (internal detail)".to_owned(),
            });
        }
        Ok(self
            .tables
            .get(&mapping.table.name)
            .map_or(&[], Vec::as_slice))
    }

    fn push(
        set: &mut RowSet,
        position: usize,
        row: &serde_json::Map<String, Json>,
        mapping: &EntityMapping,
        columns: &[usize],
    ) {
        let mut writer = set.row(position);
        for &column in columns {
            match row
                .get(&mapping.columns[column].column)
                .unwrap_or(&Json::Null)
            {
                Json::Null => writer.push(graft_resolve::Cell::Null),
                Json::Bool(b) => writer.push(graft_resolve::Cell::Bool(*b)),
                Json::Number(n) => writer.push(match n.as_i64() {
                    Some(i) => graft_resolve::Cell::Int(i),
                    None => graft_resolve::Cell::Float(n.as_f64().unwrap_or_default()),
                }),
                Json::String(s) => writer.push_text(s),
                other => writer.push_json(&other.to_string()),
            }
        }
    }
}

impl EntitySource for Tables {
    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pages: true,
            ..Capabilities::FETCH_ONLY
        }
    }

    fn fetch<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        request: FetchRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let mapping = request.mapping;
            let mut rows: Vec<&serde_json::Map<String, Json>> =
                self.rows(mapping)?.iter().collect();
            let first_key = &mapping.key_columns[0];
            rows.sort_by_key(|row| {
                first_key
                    .iter()
                    .map(|c| row.get(c).and_then(text_of))
                    .collect::<Vec<_>>()
            });
            let mut set = RowSet::new(request.keys.len(), request.columns.len());
            for (position, key) in request.keys.iter().enumerate() {
                let matching = rows.iter().filter(|row| {
                    request
                        .match_columns
                        .iter()
                        .zip(key.values())
                        .all(|(column, value)| {
                            row.get(column).and_then(text_of) == Some(key_text(value))
                        })
                });
                let limit = if request.many {
                    request.per_key_limit.unwrap_or(u64::MAX)
                } else {
                    1
                };
                for row in matching.take(usize::try_from(limit).unwrap_or(usize::MAX)) {
                    Tables::push(&mut set, position, row, mapping, request.columns);
                }
            }
            Ok(set)
        })
    }

    fn page<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        request: PageRequest<'a>,
    ) -> BoxFuture<'a, Result<RowSet, ResolveError>> {
        Box::pin(async move {
            let mapping = request.mapping;
            let key_of = |row: &serde_json::Map<String, Json>| -> Vec<String> {
                request
                    .key_columns
                    .iter()
                    .map(|c| row.get(c).and_then(text_of).unwrap_or_default())
                    .collect()
            };
            let mut rows: Vec<&serde_json::Map<String, Json>> =
                self.rows(mapping)?.iter().collect();
            rows.sort_by_key(|row| key_of(row));
            let after: Option<Vec<String>> = request
                .after
                .map(|key| key.values().iter().map(key_text).collect());
            let mut set = RowSet::new(1, request.columns.len());
            for row in rows
                .into_iter()
                .filter(|row| after.as_ref().is_none_or(|after| key_of(row) > *after))
                .take(request.limit)
            {
                Tables::push(&mut set, 0, row, mapping, request.columns);
            }
            Ok(set)
        })
    }
}

fn user(org: &str, id: &str, name: Option<&str>, email: Option<&str>) -> Json {
    json!({ "org_id": org, "user_id": id, "name": name, "email": email })
}

fn order(id: i64, org: &str, user: &str, total: f64) -> Json {
    json!({ "id": id, "org_id": org, "user_id": user, "total": total })
}

/// The orgs data: two users of org-1, one with a missing name, and their orders.
fn orgs() -> Vec<(&'static str, Vec<Json>)> {
    vec![
        (
            "org_users",
            vec![
                user("org-1", "u1", Some("Ada"), Some("ada@x.io")),
                user("org-1", "u2", None, None),
                user("org-2", "u1", Some("Grace"), None),
            ],
        ),
        (
            "orders",
            vec![
                order(1, "org-1", "u1", 9.5),
                order(2, "org-1", "u1", 12.0),
                order(3, "org-2", "u1", 7.25),
                order(4, "org-1", "u2", 1.0),
            ],
        ),
    ]
}

/// Runs `query` with `variables` over `tables` (some of them `failing`) and compares the
/// response with `expected`.
async fn check(
    tables: Vec<(&str, Vec<Json>)>,
    failing: &[&str],
    query: &str,
    variables: Json,
    expected: Expect,
) {
    let schema = Arc::new(SubgraphSchema::parse(SDL, "engine.graphql").expect("valid schema"));
    let tables = Tables {
        tables: tables
            .into_iter()
            .map(|(name, rows)| {
                let rows = rows
                    .into_iter()
                    .map(|row| match row {
                        Json::Object(row) => row,
                        other => panic!("a row is an object: {other}"),
                    })
                    .collect();
                (name.to_owned(), rows)
            })
            .collect(),
        failing: failing.iter().map(|t| (*t).to_owned()).collect(),
    };
    let engine = Engine::new(
        schema,
        SourceRouter::single(Arc::new(tables)),
        EngineConfig::default(),
    );
    let body = json!({ "query": query, "variables": variables }).to_string();
    let request: GraphQLRequest<'_> = serde_json::from_str(&body).expect("a GraphQL request");
    let (response, _) = engine
        .execute(
            &RequestContext::new("test"),
            &request,
            ExecuteOptions::default(),
        )
        .await;
    let response: Json = serde_json::from_slice(&response.body).expect("JSON");
    expected.assert_eq(&serde_json::to_string_pretty(&response).expect("JSON"));
}

#[tokio::test]
async fn a_null_in_a_non_null_field_nulls_the_entity_with_an_error() {
    check(
        orgs(),
        &[],
        r#"{ ada: orgUser(orgId: "org-1", userId: "u1") { name email }
             nameless: orgUser(orgId: "org-1", userId: "u2") { name email }
             none: orgUser(orgId: "org-9", userId: "u1") { name } }"#,
        json!({}),
        expect![[r#"
            {
              "data": {
                "ada": {
                  "email": "ada@x.io",
                  "name": "Ada"
                },
                "nameless": null,
                "none": null
              },
              "errors": [
                {
                  "extensions": {
                    "code": "FIELD_VALUE_INVALID"
                  },
                  "message": "OrgUser.name: the column is NULL but the field is non-null",
                  "path": [
                    "nameless",
                    "name"
                  ]
                }
              ]
            }"#]],
    )
    .await;
}

#[tokio::test]
async fn relations_resolve_both_ways_with_first() {
    check(
        orgs(),
        &[],
        r#"{ orgUser(orgId: "org-1", userId: "u1") { name orders(first: 1) { id total user { name } } all: orders { id } } }"#,
        json!({}),
        expect![[r#"
            {
              "data": {
                "orgUser": {
                  "all": [
                    {
                      "id": "1"
                    },
                    {
                      "id": "2"
                    }
                  ],
                  "name": "Ada",
                  "orders": [
                    {
                      "id": "1",
                      "total": 9.5,
                      "user": {
                        "name": "Ada"
                      }
                    }
                  ]
                }
              }
            }"#]],
    )
    .await;
}

#[tokio::test]
async fn pages_follow_the_key_and_say_where_they_stand() {
    check(
        orgs(),
        &[],
        r#"query($after: String) { first: orders(first: 3) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
             next: orders(first: 3, after: $after) { edges { node { id user { name } } } pageInfo { hasNextPage } } }"#,
        json!({ "after": "Order/0:s1:3" }),
        expect![[r#"
            {
              "data": {
                "first": {
                  "edges": [
                    {
                      "cursor": "Order/0:s1:1",
                      "node": {
                        "id": "1"
                      }
                    },
                    {
                      "cursor": "Order/0:s1:2",
                      "node": {
                        "id": "2"
                      }
                    },
                    {
                      "cursor": "Order/0:s1:3",
                      "node": {
                        "id": "3"
                      }
                    }
                  ],
                  "pageInfo": {
                    "endCursor": "Order/0:s1:3",
                    "hasNextPage": true
                  }
                },
                "next": {
                  "edges": [
                    {
                      "node": {
                        "id": "4",
                        "user": null
                      }
                    }
                  ],
                  "pageInfo": {
                    "hasNextPage": false
                  }
                }
              },
              "errors": [
                {
                  "extensions": {
                    "code": "FIELD_VALUE_INVALID"
                  },
                  "message": "OrgUser.name: the column is NULL but the field is non-null",
                  "path": [
                    "next",
                    "edges",
                    0,
                    "node",
                    "user",
                    "name"
                  ]
                }
              ]
            }"#]],
    )
    .await;
}

#[tokio::test]
async fn entities_answer_in_input_order_with_null_for_missing_and_errors_for_invalid() {
    check(
        orgs(),
        &[],
        r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on OrgUser { name } ... on Order { total } } }"#,
        json!({ "r": [
            { "__typename": "Order", "id": "3" },
            { "__typename": "OrgUser", "orgId": "org-2", "userId": "u1" },
            { "__typename": "OrgUser", "orgId": "org-1" },
            { "__typename": "Order", "id": "99" }
        ] }),
        expect![[r#"
            {
              "data": {
                "_entities": [
                  {
                    "total": 7.25
                  },
                  {
                    "name": "Grace"
                  },
                  null,
                  null
                ]
              },
              "errors": [
                {
                  "extensions": {
                    "code": "INVALID_REPRESENTATION"
                  },
                  "message": "representation 2 (OrgUser): key field `userId` is missing",
                  "path": [
                    "_entities",
                    2
                  ]
                }
              ]
            }"#]],
    )
    .await;
}

#[tokio::test]
async fn a_representation_of_an_entity_interface_is_an_error_of_its_own() {
    check(
        orgs(),
        &[],
        r#"query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Order { total } } }"#,
        json!({ "r": [
            { "__typename": "Ledger", "id": "3" },
            { "__typename": "Order", "id": "3" }
        ] }),
        expect![[r#"
            {
              "data": {
                "_entities": [
                  null,
                  {
                    "__typename": "Order",
                    "total": 7.25
                  }
                ]
              },
              "errors": [
                {
                  "extensions": {
                    "code": "INVALID_REPRESENTATION"
                  },
                  "message": "representation 0: `Ledger` is an interface: `__typename` must name one of its object types",
                  "path": [
                    "_entities",
                    0
                  ]
                }
              ]
            }"#]],
    )
    .await;
}

#[tokio::test]
async fn a_failing_source_nulls_its_entities_with_a_fetch_error_and_no_internals() {
    check(
        orgs(),
        &["org_users"],
        r#"{ order(id: "1") { total user { name } } }"#,
        json!({}),
        expect![[r#"
            {
              "data": {
                "order": {
                  "total": 9.5,
                  "user": null
                }
              },
              "errors": [
                {
                  "extensions": {
                    "code": "FETCH_FAILED",
                    "key": "OrgUser(\"org-1\", \"u1\")",
                    "requestId": "test",
                    "source": "memory",
                    "strategy": "db",
                    "type": "OrgUser"
                  },
                  "message": "could not resolve OrgUser(\"org-1\", \"u1\"): source `memory` failed (connection); the server log has the details",
                  "path": [
                    "order",
                    "user"
                  ]
                }
              ]
            }"#]],
    )
    .await;
}
