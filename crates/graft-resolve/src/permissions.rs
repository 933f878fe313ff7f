//! What a caller may do: which actions on which entity types its verified credential grants.
//!
//! Grants are scopes of the form `Type:action`, where `Type` is an entity type or `*` and
//! `action` is `create`, `read`, `update`, `delete`, `write` (create, update and delete) or
//! `*`; `*` alone grants everything. Other scopes a credential carries (`openid`, `profile`)
//! grant nothing here. The server builds a caller's [`Permissions`] from its JWT's scope
//! claim or its API key's scopes, never from the request body, and checks them before every
//! write of a GraphQL mutation and every `/batch` operation.

use std::fmt;
use std::sync::Arc;

/// An action on an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Inserting rows.
    Create,
    /// Reading rows.
    Read,
    /// Changing rows.
    Update,
    /// Deleting rows.
    Delete,
}

impl Action {
    /// Its name, as scopes spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `Type:action` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    /// The entity type; `None` for `*`.
    entity: Option<Box<str>>,
    /// The actions; `None` for `*`.
    actions: Option<&'static [Action]>,
}

impl Grant {
    fn parse(scope: &str) -> Option<Grant> {
        if scope == "*" {
            return Some(Grant {
                entity: None,
                actions: None,
            });
        }
        let (entity, action) = scope.split_once(':')?;
        let valid_entity = entity == "*"
            || (!entity.is_empty()
                && entity
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !valid_entity {
            return None;
        }
        let actions: Option<&'static [Action]> = match action {
            "*" => None,
            "create" => Some(&[Action::Create]),
            "read" => Some(&[Action::Read]),
            "update" => Some(&[Action::Update]),
            "delete" => Some(&[Action::Delete]),
            "write" => Some(&[Action::Create, Action::Update, Action::Delete]),
            _ => return None,
        };
        Some(Grant {
            entity: (entity != "*").then(|| entity.into()),
            actions,
        })
    }

    fn allows(&self, entity: &str, action: Action) -> bool {
        self.entity.as_deref().is_none_or(|e| e == entity)
            && self.actions.is_none_or(|actions| actions.contains(&action))
    }
}

/// The actions a caller is granted; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions(Option<Arc<[Grant]>>);

impl Default for Permissions {
    /// Everything: the permissions of a server that does not check them.
    fn default() -> Permissions {
        Permissions::all()
    }
}

impl Permissions {
    /// Every action on every type.
    pub fn all() -> Permissions {
        Permissions(None)
    }

    /// The grants among `scopes`; scopes that are not grants are ignored, so an empty list
    /// or one of other scopes grants nothing.
    pub fn from_scopes<'s>(scopes: impl IntoIterator<Item = &'s str>) -> Permissions {
        let grants: Vec<Grant> = scopes.into_iter().filter_map(Grant::parse).collect();
        if grants
            .iter()
            .any(|g| g.entity.is_none() && g.actions.is_none())
        {
            return Permissions::all();
        }
        Permissions(Some(grants.into()))
    }

    /// Whether `action` on `entity` is granted.
    pub fn allows(&self, entity: &str, action: Action) -> bool {
        match &self.0 {
            None => true,
            Some(grants) => grants.iter().any(|grant| grant.allows(entity, action)),
        }
    }

    /// Whether `scope` is a grant (`Type:action` or `*`), not a scope of something else.
    pub fn is_grant(scope: &str) -> bool {
        Grant::parse(scope).is_some()
    }

    /// Whether every action on every type is granted.
    pub fn is_all(&self) -> bool {
        self.0.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_grant_actions_on_types() {
        let p = Permissions::from_scopes("openid Order:create Customer:* *:read".split(' '));
        assert!(p.allows("Order", Action::Create));
        assert!(!p.allows("Order", Action::Delete));
        assert!(p.allows("Customer", Action::Delete));
        assert!(p.allows("Invoice", Action::Read));
        assert!(!p.allows("Invoice", Action::Update));
        assert!(!p.is_all());
    }

    #[test]
    fn write_is_create_update_and_delete() {
        let p = Permissions::from_scopes(["Order:write"]);
        assert!(p.allows("Order", Action::Create));
        assert!(p.allows("Order", Action::Update));
        assert!(p.allows("Order", Action::Delete));
        assert!(!p.allows("Order", Action::Read));
    }

    #[test]
    fn a_star_grants_everything_and_nothing_grants_nothing() {
        assert!(Permissions::from_scopes(["*"]).is_all());
        assert!(Permissions::from_scopes(["*:*"]).allows("X", Action::Delete));
        let none = Permissions::from_scopes([]);
        assert!(!none.allows("X", Action::Read));
        for malformed in [
            "Order",
            "Order:",
            ":read",
            "Or der:read",
            "Order:drop",
            "*:",
        ] {
            assert!(
                !Permissions::from_scopes([malformed]).allows("Order", Action::Read),
                "{malformed}"
            );
        }
    }
}
