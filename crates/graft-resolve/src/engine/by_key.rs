//! A root field that looks one entity up by the fields of one of its keys.

use std::time::Instant;

use apollo_compiler::ast::Value;
use apollo_compiler::{Name, Node};
use graft_plan::{EntityFetchPlan, EntitySelection};

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
        let arguments = arguments.iter().map(|(name, value)| {
            let value = value.as_ref().map_or(serde_json::Value::Null, |v| {
                literal_to_json(v, self.variables)
            });
            (name.clone(), value)
        });
        let key = match self.key_from_arguments(&selection.type_name, arguments) {
            Ok(key) => key,
            Err(error) => {
                out.extend_from_slice(b"null");
                let message = format!("{response_key}: {error}");
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
                self.write_entity(out, selection, &fetched, 0, &mut path(), None, key)
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
