//! Federation entity keys for graft.
//!
//! This crate answers three questions, without any I/O:
//!
//! - What are a type's keys? [`EntityTypes::from_schema`] reads every `@key` of a subgraph schema
//!   into a [`KeyFieldSet`]: single (`id`), composite (`orgId userId`), nested
//!   (`org { id } userId`), several per type, `resolvable: false`.
//! - Which entity does a representation name? [`EntityTypes::validate`] turns one `_Any` JSON
//!   value into a [`Representation`] holding a typed, canonical [`EntityKey`], or a [`KeyError`]
//!   that names the representation's index, the field and the reason.
//! - Do subgraphs agree on keys? [`check_key_compatibility`] reports each type one subgraph
//!   refers to by a key its owner does not resolve.
//!
//! [`EntityKey::encode`] gives an injective string form for cache keys: composite values are
//! length-prefixed, never joined with a delimiter.

mod compat;
mod entity;
mod error;
mod federation;
mod field_set;
mod json;
mod representation;
mod scan;
mod value;

pub use compat::{KeyMismatch, MismatchKind, SubgraphKeys, check_key_compatibility};
pub use entity::{EntityType, EntityTypes, KeyDefinition};
pub use error::KeyError;
pub use federation::parse_subgraph_schema;
pub use field_set::{KeyField, KeyFieldSet, KeyLeaf, KeyScalar};
pub use json::{Json, JsonReader};
pub use representation::{ExtraFields, Representation};
pub use value::{EntityKey, KeyFloat, KeyIndex, KeyValue};

/// apollo-compiler, re-exported so that users of this crate name the same version.
pub use apollo_compiler;
