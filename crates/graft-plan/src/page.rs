//! Plans of connection root fields: a page of entities in the order of a key.

use apollo_compiler::ast::Value;
use apollo_compiler::{Name, Node};
use graft_keys::KeyIndex;

use crate::{Conditions, EntitySelection, ResponseKey};

/// A root field that pages through a type, Relay style.
#[derive(Debug, Clone, PartialEq)]
pub struct PagePlan {
    /// The key that orders the pages.
    pub key: KeyIndex,
    /// The `first` argument, if given.
    pub first: Option<Node<Value>>,
    /// The `after` argument (a cursor), if given.
    pub after: Option<Node<Value>>,
    /// The connection type's name.
    pub connection: Name,
    /// The connection's selected fields.
    pub fields: Vec<PageField<PageValue>>,
    /// What to read and write for each entity (from `edges { node }` or `nodes`).
    pub node: EntitySelection,
    /// Positions in `node.columns` of the key's columns, from which cursors are made.
    pub key_slots: Vec<usize>,
}

/// One selected field of a connection, an edge or a page info object.
#[derive(Debug, Clone, PartialEq)]
pub struct PageField<V> {
    /// Where the value goes.
    pub response_key: ResponseKey,
    /// When it is included.
    pub conditions: Conditions,
    /// What to write.
    pub value: V,
}

/// A field of the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum PageValue {
    /// `__typename`.
    Typename,
    /// `edges { cursor node }`.
    Edges {
        /// The edge type's name.
        type_name: Name,
        /// The edge's selected fields.
        fields: Vec<PageField<EdgeValue>>,
    },
    /// `nodes`: the entities themselves.
    Nodes,
    /// `pageInfo { hasNextPage endCursor ... }`.
    PageInfo {
        /// The page info type's name.
        type_name: Name,
        /// Its selected fields.
        fields: Vec<PageField<PageInfoValue>>,
    },
}

/// A field of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeValue {
    /// `__typename`.
    Typename,
    /// `cursor`: where the next page starts when this edge is the last one seen.
    Cursor,
    /// `node`: the entity.
    Node,
}

/// A field of the page info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageInfoValue {
    /// `__typename`.
    Typename,
    /// `hasNextPage`.
    HasNextPage,
    /// `hasPreviousPage`: whether an `after` cursor was given.
    HasPreviousPage,
    /// `startCursor`.
    StartCursor,
    /// `endCursor`.
    EndCursor,
}
