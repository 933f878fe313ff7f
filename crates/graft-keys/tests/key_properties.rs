//! Properties of entity keys: the cache-key encoding is injective and round-trips, and
//! representations that differ only in JSON field order or ID form give the same key.

use graft_keys::apollo_compiler::Name;
use graft_keys::{EntityKey, EntityTypes, KeyFloat, KeyIndex, KeyValue, parse_subgraph_schema};
use proptest::prelude::*;
use serde_json::value::RawValue;

fn key_value() -> impl Strategy<Value = KeyValue> {
    prop_oneof![
        // Strings that mix the classic delimiters with arbitrary unicode and empty strings.
        prop_oneof![Just(String::new()), "[#:;/ s0-9\"]{0,6}", any::<String>()]
            .prop_map(|s| KeyValue::String(s.into())),
        any::<i64>().prop_map(KeyValue::Int),
        any::<f64>()
            .prop_filter_map("finite", KeyFloat::new)
            .prop_map(KeyValue::Float),
        any::<bool>().prop_map(KeyValue::Boolean),
    ]
}

fn entity_key() -> impl Strategy<Value = EntityKey> {
    (
        "[A-Z][A-Za-z0-9_]{0,8}",
        0u16..4,
        prop::collection::vec(key_value(), 1..5),
    )
        .prop_map(|(type_name, index, values)| {
            EntityKey::new(
                Name::new(&type_name).expect("regex yields GraphQL names"),
                KeyIndex(index),
                values,
            )
        })
}

proptest! {
    #[test]
    fn encoding_round_trips(key in entity_key()) {
        prop_assert_eq!(EntityKey::decode(&key.encode()).expect("decodes what encode wrote"), key);
    }

    #[test]
    fn distinct_keys_have_distinct_encodings(a in entity_key(), b in entity_key()) {
        prop_assert_eq!(a == b, a.encode() == b.encode());
    }

    #[test]
    fn two_part_keys_never_collide_under_delimiters(
        a in "[#:s0-9 ]{0,4}", b in "[#:s0-9 ]{0,4}", c in "[#:s0-9 ]{0,4}", d in "[#:s0-9 ]{0,4}",
    ) {
        let name = Name::new("OrgUser").expect("valid name");
        let k1 = EntityKey::new(name.clone(), KeyIndex(0), vec![KeyValue::String(a.clone().into()), KeyValue::String(b.clone().into())]);
        let k2 = EntityKey::new(name, KeyIndex(0), vec![KeyValue::String(c.clone().into()), KeyValue::String(d.clone().into())]);
        prop_assert_eq!((a, b) == (c, d), k1.encode() == k2.encode());
    }

    #[test]
    fn field_order_and_id_form_do_not_change_the_key(org in any::<String>(), user in any::<u32>(), swap in any::<bool>()) {
        let types = org_user_types();
        let org_json = serde_json::to_string(&org).expect("string serializes");
        let (first, second) = (format!("\"orgId\":{org_json}"), format!("\"userId\":{user}"));
        let a = if swap { format!("{{{second},\"__typename\":\"OrgUser\",{first}}}") } else { format!("{{\"__typename\":\"OrgUser\",{first},{second}}}") };
        let b = format!("{{\"__typename\":\"OrgUser\",\"orgId\":{org_json},\"userId\":\"{user}\"}}");
        let a = types.validate(0, &RawValue::from_string(a).expect("valid JSON")).expect("valid representation");
        let b = types.validate(0, &RawValue::from_string(b).expect("valid JSON")).expect("valid representation");
        prop_assert_eq!(a.key(), b.key());
    }
}

fn org_user_types() -> EntityTypes {
    let schema = parse_subgraph_schema(
        r#"type Query { u: OrgUser } type OrgUser @key(fields: "orgId userId") { orgId: String! userId: ID! }"#,
        "props.graphql",
        "",
    )
    .expect("valid schema");
    EntityTypes::from_schema(&schema).expect("valid keys")
}
