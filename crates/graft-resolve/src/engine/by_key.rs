//! A root field that looks one entity up by the fields of one of its keys.

use std::time::Instant;

use apollo_compiler::ast::Value;
use apollo_compiler::{Name, Node};
use graft_plan::{EntityFetchPlan, EntitySelection};
use serde_json::value::RawValue;

use super::Execution;
use crate::request::fetch_error;
use crate::variables::literal_to_json;
use crate::{GraphQLError, PathSegment};

impl Execution<'_, '_> {
    /// Writes a root field that looks one entity up by key.
    pub(super) async fn by_key(
        &mut self,
        out: &mut Vec<u8>,
        response_key: &Name,
        arguments: &[(Name, Option<Node<Value>>)],
        selection: &EntitySelection,
    ) {
        let path = || vec![PathSegment::Key(response_key.clone())];
        let mut representation = serde_json::Map::new();
        representation.insert(
            "__typename".to_owned(),
            selection.type_name.to_string().into(),
        );
        for (name, value) in arguments {
            let value = value.as_ref().map_or(serde_json::Value::Null, |v| {
                literal_to_json(v, self.variables)
            });
            representation.insert(name.to_string(), value);
        }
        let raw = RawValue::from_string(serde_json::Value::Object(representation).to_string())
            .expect("valid JSON");
        let key = match self.engine.schema.entities().validate(0, &raw) {
            Ok(representation) => representation.into_key(),
            Err(error) => {
                out.extend_from_slice(b"null");
                let message = format!("{response_key}: invalid key arguments: {error}");
                self.errors
                    .push(GraphQLError::new("BAD_USER_INPUT", message).at(path()));
                return;
            }
        };
        let plan = EntityFetchPlan::build(vec![Some(key)], &graft_plan::PerTypeAndKey, 1);
        let started = Instant::now();
        let mut results = self
            .fetch_groups(&plan, std::slice::from_ref(selection))
            .await;
        self.timings.fetch += started.elapsed();
        match results.pop().expect("one group") {
            Ok(fetched) => {
                let key = || plan.group_keys(&plan.groups()[0]).next().expect("one key");
                self.write_entity(out, selection, &fetched, 0, path(), None, key)
            }
            Err(error) => {
                out.extend_from_slice(b"null");
                let key = plan.group_keys(&plan.groups()[0]).next().expect("one key");
                let strategy = self.engine.sources.strategy_for(key.type_name());
                self.errors.push(fetch_error(
                    &error,
                    key,
                    path(),
                    strategy,
                    &self.ctx.request_id,
                ));
            }
        }
    }
}
