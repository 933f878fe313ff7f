//! The mapping of entity types to tables and of fields to columns.

use std::fmt;

use apollo_compiler::Name;
use graft_keys::KeyIndex;

/// A table, optionally qualified by its database schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    /// The database schema (PostgreSQL schema, MySQL database), when given.
    pub schema: Option<String>,
    /// The table.
    pub name: String,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The GraphQL type of a mapped field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputScalar {
    /// `ID`: written as a JSON string.
    Id,
    /// `String`.
    String,
    /// `Int`: 32-bit; a column value outside that range is a field error.
    Int,
    /// `Float`.
    Float,
    /// `Boolean`.
    Boolean,
    /// An enum: written as a string.
    Enum,
    /// A custom scalar: written as the database gives it.
    Custom,
}

/// A field's type as far as graft needs it: scalar and nullability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldType {
    /// The scalar.
    pub scalar: OutputScalar,
    /// `false` for `T!`: a NULL column makes the whole entity null, with an error.
    pub nullable: bool,
}

/// One field stored in one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    /// The GraphQL field: of the entity, of an embedded object, or, for a
    /// [`ColumnRole::Join`] column, the relation field it serves.
    pub field: Name,
    /// The column.
    pub column: String,
    /// The field's type.
    pub ty: FieldType,
    /// What the column stores.
    pub role: ColumnRole,
}

/// What a mapped column stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// A field of the entity.
    Field,
    /// A field of an embedded object (see [`EmbeddedMapping`]).
    Embedded,
    /// No field: a value a relation looks up by (`@belongsTo(columns:)`).
    Join,
}

/// A field whose value is an object stored in the entity's own row: a type without `@key`
/// (`dimensions: ProductDimension`) whose fields map to columns prefixed with the field's
/// (`dimensions_size`, `dimensions_weight`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedMapping {
    /// The entity's field (or the enclosing embedded object's).
    pub field: Name,
    /// The object type.
    pub type_name: Name,
    /// Whether the field may be null: it is null when every one of its columns is NULL.
    pub nullable: bool,
    /// Its fields, in declaration order.
    pub fields: Vec<EmbeddedField>,
}

/// A field of an embedded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbeddedField {
    /// A scalar stored in a column: index into [`EntityMapping::columns`].
    Column(usize),
    /// An object nested in the embedded object, stored in the same row.
    Object(EmbeddedMapping),
}

impl EmbeddedMapping {
    /// Every column of the object, nested objects included.
    pub fn all_columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut Vec<usize>) {
        for field in &self.fields {
            match field {
                EmbeddedField::Column(index) => out.push(*index),
                EmbeddedField::Object(object) => object.collect_columns(out),
            }
        }
    }
}

/// A field computed from the values the gateway passes in a representation
/// (`@requires(fields:)` with `@computed(expression:)`).
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedField {
    /// The field.
    pub field: Name,
    /// Its type: `Int` or `Float`.
    pub ty: FieldType,
    /// What computes it; its variables are paths into the representation.
    pub expression: crate::Expression,
}

/// An entity type backed by a table.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityMapping {
    /// The GraphQL type.
    pub type_name: Name,
    /// Its table.
    pub table: TableName,
    /// Its scalar fields, in declaration order.
    pub columns: Vec<ColumnMapping>,
    /// For each of the type's keys (by [`KeyIndex`]), the column of each key leaf, in leaf order.
    pub key_columns: Vec<Vec<String>>,
    /// Fields that follow a foreign key to another entity (`@belongsTo`, `@hasMany`).
    pub relations: Vec<RelationMapping>,
    /// Object fields stored in the entity's row.
    pub embedded: Vec<EmbeddedMapping>,
    /// Fields computed from `@requires` values.
    pub computed: Vec<ComputedField>,
}

/// A field whose value is another entity (or a list of them) found through columns.
///
/// Resolving it takes the values of `local_columns` from each parent row and looks up the
/// target rows whose `target_columns` hold them: one statement for all the parents of a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationMapping {
    /// The field.
    pub field: Name,
    /// The entity type it returns.
    pub target: Name,
    /// Indices into the parent's [`EntityMapping::columns`] whose values are looked up.
    pub local_columns: Vec<usize>,
    /// The target's columns matched against them; empty for a reference.
    pub target_columns: Vec<String>,
    /// For `@belongsTo`, the target's key that the local values form.
    pub target_key: Option<KeyIndex>,
    /// `@hasMany`: a list of every matching row. Otherwise at most one.
    pub many: bool,
    /// Whether the field may be null.
    pub nullable: bool,
    /// The target is owned by another subgraph (not table-backed here): the field is answered
    /// with the target's key fields only, for the gateway to resolve the rest.
    pub reference: bool,
}

impl EntityMapping {
    /// The mapping of field `name`, if it is a mapped scalar field.
    pub fn column(&self, name: &str) -> Option<&ColumnMapping> {
        self.columns
            .iter()
            .find(|c| c.role == ColumnRole::Field && c.field == name)
    }

    /// The position of field `name` in [`EntityMapping::columns`].
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.role == ColumnRole::Field && c.field == name)
    }

    /// The embedded object field `name`, if it is one.
    pub fn embedded(&self, name: &str) -> Option<&EmbeddedMapping> {
        self.embedded.iter().find(|e| e.field == name)
    }

    /// The computed field `name`, by position in [`EntityMapping::computed`].
    pub fn computed(&self, name: &str) -> Option<(usize, &ComputedField)> {
        self.computed
            .iter()
            .enumerate()
            .find(|(_, c)| c.field == name)
    }

    /// The relation of field `name`, if it is one.
    pub fn relation(&self, name: &str) -> Option<(usize, &RelationMapping)> {
        self.relations
            .iter()
            .enumerate()
            .find(|(_, r)| r.field == name)
    }

    /// The fields leading from the entity to what column `index` stores: `[name]` for the
    /// entity's own field, `[dimensions, size]` for an embedded object's; `None` for a
    /// [`ColumnRole::Join`] column, which stores no field.
    pub fn field_path(&self, index: usize) -> Option<Vec<Name>> {
        let column = self.columns.get(index)?;
        match column.role {
            ColumnRole::Field => Some(vec![column.field.clone()]),
            ColumnRole::Join => None,
            ColumnRole::Embedded => {
                fn find(object: &EmbeddedMapping, index: usize, path: &mut Vec<Name>) -> bool {
                    path.push(object.field.clone());
                    for field in &object.fields {
                        match field {
                            EmbeddedField::Column(i) if *i == index => return true,
                            EmbeddedField::Object(inner) if find(inner, index, path) => {
                                return true;
                            }
                            _ => {}
                        }
                    }
                    path.pop();
                    false
                }
                let mut path = Vec::new();
                self.embedded
                    .iter()
                    .any(|object| find(object, index, &mut path))
                    .then(|| {
                        path.push(column.field.clone());
                        path
                    })
            }
        }
    }

    /// The column storing the field at `path` (see [`EntityMapping::field_path`]).
    pub fn column_by_path(&self, path: &[Name]) -> Option<usize> {
        let (last, objects) = path.split_last()?;
        let Some((first, nested)) = objects.split_first() else {
            return self.column_index(last);
        };
        // Walk the embedded objects down to the one that holds the field.
        let mut object = self.embedded(first)?;
        for name in nested {
            object = object.fields.iter().find_map(|field| match field {
                EmbeddedField::Object(inner) if inner.field == *name => Some(inner),
                _ => None,
            })?;
        }
        object.fields.iter().find_map(|field| match field {
            EmbeddedField::Column(index) if self.columns[*index].field == *last => Some(*index),
            _ => None,
        })
    }

    /// The key columns of key `index`.
    pub fn key_columns(&self, index: KeyIndex) -> &[String] {
        &self.key_columns[usize::from(index.0)]
    }
}

/// A field of the root `Query` type that graft resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootField {
    /// The field's name.
    pub name: Name,
    /// How graft answers it.
    pub kind: RootFieldKind,
}

/// The ways graft answers a root field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFieldKind {
    /// Looks one entity up by key: the arguments are the key's fields, by name.
    ByKey {
        /// The entity type returned.
        type_name: Name,
        /// Which key the arguments form.
        key: KeyIndex,
        /// For each key leaf, in leaf order, the argument that gives it.
        arguments: Vec<Name>,
    },
    /// Pages through a type in the order of one of its keys, Relay style: the field returns a
    /// connection (`edges { cursor node }`, `nodes`, `pageInfo`) and takes `first` and `after`.
    Page {
        /// The entity type paged through.
        type_name: Name,
        /// The key that orders the pages (top-level fields only).
        key: KeyIndex,
    },
}
