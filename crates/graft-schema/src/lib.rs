//! graft's model of a subgraph: the federation SDL a user writes, plus graft's mapping of types
//! to tables and fields to columns.
//!
//! A user writes one `schema.graphql` in Federation v2 and marks it up with two graft directives:
//!
//! ```graphql
//! type OrgUser @key(fields: "orgId userId") @table(name: "org_users") {
//!   orgId: String!
//!   userId: String!
//!   email: String @column(name: "email_address")
//! }
//! ```
//!
//! - `@table(name:, schema:)` on an entity type names its table. Without it the table is the
//!   type's name in snake_case (`OrgUser` -> `org_user`).
//! - `@column(name:)` on a field names its column. Without it the column is the field's name in
//!   snake_case (`createdAt` -> `created_at`); a nested key field `org { id }` maps to `org_id`.
//!
//! - `@belongsTo(fields: "orgId userId")` on a field of an entity type: this type's fields hold
//!   the target's key (`Order.user: OrgUser`). When the target has no table here (another
//!   subgraph owns it), the field answers with the target's key fields for the gateway.
//! - `@hasMany(fields: "orgId userId")` on a list field: the target's fields hold this type's key
//!   (`OrgUser.orders: [Order!]!`).
//! - Either relation takes `columns:` instead of `fields:` when the key is held by columns that
//!   are no fields: `createdBy: User @belongsTo(columns: "created_by")`,
//!   `research: [ProductResearch!]! @hasMany(columns: "product_id")`.
//! - A field of an object type without `@key` is embedded: its fields are columns of the same
//!   row, prefixed with the field's column (`dimensions: ProductDimension` ->
//!   `dimensions_size`, `dimensions_weight`); it is null when all of them are NULL. Nested keys
//!   (`sku variation { id }`) read embedded columns (`variation_id`).
//! - `@computed(expression: "round(totalProductsCreated / yearsOfEmployment)")` with
//!   `@requires(fields:)` computes a field from the values the gateway puts in the
//!   representation (see [`Expression`]).
//! - An `@external` field is stored only when it is part of a key, named by a `@provides`, or
//!   given a `@column`; otherwise its owner answers it.
//!
//! [`SubgraphSchema::parse`] validates all of it and builds:
//! - the federation SDL for `_service { sdl }`, with graft's directives stripped, so composition
//!   sees exactly the user's schema;
//! - the API schema that operations are validated against, with `_Any`, `_Entity`, `_Service`,
//!   `Query._entities` and `Query._service` added as the federation spec prescribes;
//! - the [`EntityMapping`] of each table-backed entity and the [`RootField`]s of `Query`.

mod entity_map;
mod error;
mod expression;
mod mapping;
mod mutations;
mod parse;
mod relations;
mod roots;
mod starter;

pub use error::SchemaError;
pub use expression::{EvaluationError, Expression, Number};
pub use mapping::{
    ColumnMapping, ColumnRole, ComputedField, EmbeddedField, EmbeddedMapping, EntityMapping,
    FieldType, OutputScalar, RelationMapping, RootField, RootFieldKind, TableName,
};
pub use mutations::{InputField, MutationField, MutationKind};
pub use parse::{SubgraphSchema, strip_graft_directives};
pub use starter::{
    ColumnDescription, ForeignKey, NO_PRIMARY_KEY, StarterOptions, TableDescription, starter_sdl,
    starter_sdl_with, unmapped,
};
