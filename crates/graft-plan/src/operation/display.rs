//! The plans' stable, readable form, for snapshot tests.

use std::fmt;

use super::*;

impl fmt::Display for OperationPlan {
    /// A stable, readable form for tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for root in &self.root {
            write!(f, "{}", root.response_key.name)?;
            write_conditions(&root.conditions, f)?;
            match &root.kind {
                RootKind::Typename(name) => writeln!(f, ": __typename = {name}")?,
                RootKind::Introspection => writeln!(f, ": introspection")?,
                RootKind::Service(fields) => {
                    let fields: Vec<String> = fields
                        .iter()
                        .map(|(k, v)| format!("{}={v:?}", k.name))
                        .collect();
                    writeln!(f, ": _service {{ {} }}", fields.join(" "))?
                }
                RootKind::Entities {
                    representations,
                    selections,
                } => {
                    writeln!(f, ": _entities({representations})")?;
                    for selection in selections {
                        writeln!(f, "  {selection}")?;
                    }
                }
                RootKind::Mutation(plan) => {
                    let arguments: Vec<String> = plan
                        .arguments
                        .iter()
                        .map(|(name, value)| format!("{name}: {value}"))
                        .collect();
                    writeln!(f, ": {}({})", plan.field.name, arguments.join(", "))?;
                    writeln!(f, "  {}", plan.selection)?;
                }
                RootKind::Page(page) => {
                    let fields: Vec<String> = page
                        .fields
                        .iter()
                        .map(|f| format!("{}={:?}", f.response_key.name, f.value))
                        .collect();
                    writeln!(
                        f,
                        ": page by key {} slots {:?} {{ {} }}",
                        page.key.0,
                        page.key_slots,
                        fields.join(" ")
                    )?;
                    writeln!(f, "  {}", page.node)?;
                }
                RootKind::ByKey {
                    key,
                    arguments,
                    selection,
                } => {
                    let args: Vec<String> = arguments
                        .iter()
                        .map(|(n, v)| {
                            format!(
                                "{n}: {}",
                                v.as_ref().map_or("<absent>".to_owned(), |v| v.to_string())
                            )
                        })
                        .collect();
                    writeln!(f, ": by key {} ({})", key.0, args.join(", "))?;
                    writeln!(f, "  {selection}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for EntitySelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} columns {:?} {{", self.type_name, self.columns)?;
        for field in &self.fields {
            write!(f, " {}", field.response_key.name)?;
            match &field.value {
                FieldValue::Typename => write!(f, "=typename")?,
                FieldValue::Column { slot, .. } => write!(f, "=${slot}")?,
                FieldValue::Computed { computed, .. } => write!(f, "=computed{computed}")?,
                FieldValue::Embedded(embedded) => {
                    let fields: Vec<String> = embedded
                        .fields
                        .iter()
                        .map(|field| match &field.value {
                            FieldValue::Column { slot, .. } => {
                                format!("{}=${slot}", field.response_key.name)
                            }
                            _ => field.response_key.name.to_string(),
                        })
                        .collect();
                    write!(f, "=embedded{{{}}}", fields.join(" "))?
                }
                FieldValue::Related(related) => {
                    let slots: Vec<String> =
                        related.key_slots.iter().map(|s| format!("${s}")).collect();
                    write!(
                        f,
                        "={}({})",
                        if related.many { "many" } else { "one" },
                        slots.join(",")
                    )?;
                    match &related.target {
                        RelatedTarget::Fetched(selection) => write!(f, "[{selection}]")?,
                        RelatedTarget::Reference { type_name, fields } => {
                            let fields: Vec<String> = fields
                                .iter()
                                .map(|field| match field.value {
                                    ReferenceValue::Typename => {
                                        format!("{}=typename", field.response_key.name)
                                    }
                                    ReferenceValue::KeyLeaf(i) => {
                                        format!("{}=key{i}", field.response_key.name)
                                    }
                                })
                                .collect();
                            write!(f, "[{type_name} reference {{ {} }}]", fields.join(" "))?
                        }
                    }
                }
            }
            write_conditions(&field.conditions, f)?;
        }
        f.write_str(" }")
    }
}

fn write_conditions(conditions: &Conditions, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let Conditions::AnyOf(alternatives) = conditions {
        let alternatives: Vec<String> = alternatives
            .iter()
            .map(|all| {
                all.iter()
                    .map(|c| format!("{}${}", if c.included_when { "" } else { "!" }, c.variable))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .collect();
        write!(f, " if {}", alternatives.join("|"))?;
    }
    Ok(())
}
