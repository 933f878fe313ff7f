//! Which source serves which entity type.

use std::collections::HashMap;
use std::sync::Arc;

use apollo_compiler::Name;

use graft_schema::{RootFieldKind, SubgraphSchema};

use crate::{EntitySource, ResolveError};

/// Maps entity types to the [`EntitySource`] that serves them, with a default for the rest.
#[derive(Clone, Default)]
pub struct SourceRouter {
    default: Option<Arc<dyn EntitySource>>,
    by_type: HashMap<Name, Arc<dyn EntitySource>>,
}

impl SourceRouter {
    /// A router that sends every type to `source`.
    pub fn single(source: Arc<dyn EntitySource>) -> SourceRouter {
        SourceRouter {
            default: Some(source),
            by_type: HashMap::new(),
        }
    }

    /// Sends `type_name` to `source` instead of the default.
    pub fn route(mut self, type_name: Name, source: Arc<dyn EntitySource>) -> SourceRouter {
        self.by_type.insert(type_name, source);
        self
    }

    /// The source for `type_name`.
    pub fn source_for(&self, type_name: &str) -> Option<&Arc<dyn EntitySource>> {
        self.by_type.get(type_name).or(self.default.as_ref())
    }

    /// Checks, at start-up, that the source of every type can do what `schema` asks of it:
    /// a type with a page field needs [`Capabilities::pages`](crate::Capabilities::pages).
    /// The error names the type, the field and the source.
    pub fn check(&self, schema: &SubgraphSchema) -> Result<(), ResolveError> {
        for field in schema.root_fields() {
            let RootFieldKind::Page { type_name, .. } = &field.kind else {
                continue;
            };
            let Some(source) = self.source_for(type_name) else {
                return Err(ResolveError::NoSource(type_name.to_string()));
            };
            if !source.capabilities().pages {
                return Err(ResolveError::Unsupported(format!(
                    "Query.{} pages through {type_name}, but its source `{}` cannot page",
                    field.name,
                    source.name()
                )));
            }
        }
        Ok(())
    }

    /// The [`EntitySource::strategy`] of the source for `type_name`, `"none"` without one.
    pub fn strategy_for(&self, type_name: &str) -> &'static str {
        self.source_for(type_name).map_or("none", |s| s.strategy())
    }
}

impl std::fmt::Debug for SourceRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRouter")
            .field(
                "default",
                &self.default.as_ref().map(|s| s.name().to_owned()),
            )
            .field(
                "by_type",
                &self
                    .by_type
                    .iter()
                    .map(|(t, s)| (t.as_str(), s.name()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
