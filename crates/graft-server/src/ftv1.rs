//! Apollo Federation inline tracing ("ftv1").
//!
//! A gateway that wants a trace sends `apollo-federation-include-trace: ftv1`; the subgraph then
//! answers with `extensions.ftv1`: the base64 (standard alphabet, padded) of a protobuf `Trace`
//! from Apollo's `reports.proto`. graft fills the fields a federated trace carries: `start_time`,
//! `end_time`, `duration_ns` and a `root` node with one child per top-level response key and the
//! response's errors.
//!
//! The encoder is written by hand for exactly these messages, so no protobuf code generation is
//! needed. Field numbers, checked against `reports.proto`:
//!
//! | message | field | number | wire type |
//! |---|---|---|---|
//! | `Trace` | `end_time` (`Timestamp`) | 3 | length-delimited |
//! | `Trace` | `start_time` (`Timestamp`) | 4 | length-delimited |
//! | `Trace` | `duration_ns` (`uint64`) | 11 | varint |
//! | `Trace` | `root` (`Node`) | 14 | length-delimited |
//! | `Trace.Node` | `response_name` (`string`, oneof `id`) | 1 | length-delimited |
//! | `Trace.Node` | `type` (`string`) | 3 | length-delimited |
//! | `Trace.Node` | `start_time` (`uint64`, ns after the trace's start) | 8 | varint |
//! | `Trace.Node` | `end_time` (`uint64`) | 9 | varint |
//! | `Trace.Node` | `error` (repeated `Error`) | 11 | length-delimited |
//! | `Trace.Node` | `child` (repeated `Node`) | 12 | length-delimited |
//! | `Trace.Node` | `parent_type` (`string`) | 13 | length-delimited |
//! | `Trace.Error` | `message` (`string`) | 1 | length-delimited |
//! | `Trace.Error` | `json` (`string`) | 4 | length-delimited |
//! | `google.protobuf.Timestamp` | `seconds` (`int64`) | 1 | varint |
//! | `google.protobuf.Timestamp` | `nanos` (`int32`) | 2 | varint |
//!
//! As proto3 does, fields at their default value (0, the empty string) are left out, except
//! `response_name`, which belongs to a oneof and so is written whenever it is set.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

/// The request header a gateway sends to ask for a trace.
pub(crate) const HEADER: &str = "apollo-federation-include-trace";

/// The only value of [`HEADER`] that asks for a trace.
pub(crate) const HEADER_VALUE: &[u8] = b"ftv1";

/// Protobuf wire type of a varint field.
const VARINT: u8 = 0;
/// Protobuf wire type of a length-delimited field (strings, bytes, nested messages).
const LEN: u8 = 2;

/// A federated trace: `Trace` in Apollo's `reports.proto`, restricted to the fields a subgraph
/// sends to its gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trace {
    /// Wall-clock time the request began (`start_time`, field 4).
    pub(crate) start: SystemTime,
    /// Wall-clock time the request ended (`end_time`, field 3).
    pub(crate) end: SystemTime,
    /// Duration measured with a monotonic clock (`duration_ns`, field 11).
    pub(crate) duration: Duration,
    /// The tree of fields and errors (`root`, field 14).
    pub(crate) root: TraceNode,
}

/// One node of the trace tree: `Trace.Node`. The root node has no `response_name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceNode {
    /// The field's response key, its alias if it has one (field 1); `None` for the root.
    pub(crate) response_name: Option<String>,
    /// The field's return type, for example `String!` (field 3); empty when unknown.
    pub(crate) ty: String,
    /// The type the field belongs to, for example `Query` (field 13).
    pub(crate) parent_type: String,
    /// Start, in nanoseconds after the trace's start (field 8).
    pub(crate) start_ns: u64,
    /// End, in nanoseconds after the trace's start (field 9).
    pub(crate) end_ns: u64,
    /// Errors at this node (field 11).
    pub(crate) errors: Vec<TraceError>,
    /// Child nodes (field 12).
    pub(crate) children: Vec<TraceNode>,
}

/// An error in the trace: `Trace.Error`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceError {
    /// The error's `message` (field 1).
    pub(crate) message: String,
    /// The whole error object as JSON text (field 4).
    pub(crate) json: String,
}

impl Trace {
    /// Appends the protobuf encoding of the trace to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        nested(out, 3, |out| timestamp(out, self.end));
        nested(out, 4, |out| timestamp(out, self.start));
        uint64(out, 11, saturating_ns(self.duration));
        nested(out, 14, |out| self.root.encode(out));
    }
}

impl TraceNode {
    /// Appends the protobuf encoding of the node (its fields, without a tag or length) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        if let Some(name) = &self.response_name {
            bytes(out, 1, name.as_bytes());
        }
        string(out, 3, &self.ty);
        uint64(out, 8, self.start_ns);
        uint64(out, 9, self.end_ns);
        for error in &self.errors {
            nested(out, 11, |out| error.encode(out));
        }
        for child in &self.children {
            nested(out, 12, |out| child.encode(out));
        }
        string(out, 13, &self.parent_type);
    }
}

impl TraceError {
    /// Appends the protobuf encoding of the error (its fields, without a tag or length) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        string(out, 1, &self.message);
        string(out, 4, &self.json);
    }
}

/// Appends `value` as a base-128 varint.
pub(crate) fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn uint64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        bytes(out, field, value.as_bytes());
    }
}

/// Writes a nested message: its tag, its length, then what `body` writes.
fn nested(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    bytes(out, field, &inner);
}

/// The fields of a `google.protobuf.Timestamp`: seconds since the epoch and non-negative nanos.
fn timestamp(out: &mut Vec<u8>, time: SystemTime) {
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            let before = before.duration();
            let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-seconds, 0),
                nanos => (-seconds - 1, 1_000_000_000 - nanos),
            }
        }
    };
    // int64 and int32 are varints of the value's two's complement (negative: ten bytes).
    uint64(out, 1, seconds as u64);
    uint64(out, 2, u64::from(nanos));
}

fn saturating_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// When a traced request started, on both clocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceClock {
    start: SystemTime,
    started: Instant,
}

impl TraceClock {
    /// Starts the clock now.
    pub(crate) fn start() -> TraceClock {
        TraceClock {
            start: SystemTime::now(),
            started: Instant::now(),
        }
    }
}

/// Adds `extensions.ftv1` to the GraphQL response `body`, ending the trace now.
///
/// `data` and `errors` are copied byte for byte (serde_json here sorts object keys, so a
/// `Value` round trip would reorder fields); only `extensions` is rewritten, keeping what it
/// had. A body that is not a JSON object is returned unchanged.
pub(crate) fn add_to_response(body: Vec<u8>, clock: TraceClock) -> Vec<u8> {
    let end = SystemTime::now();
    let duration = clock.started.elapsed();
    match with_trace(&body, clock.start, end, duration) {
        Some(traced) => traced,
        None => {
            tracing::warn!("ftv1: the response is not a JSON object; sent without a trace");
            body
        }
    }
}

fn with_trace(
    body: &[u8],
    start: SystemTime,
    end: SystemTime,
    duration: Duration,
) -> Option<Vec<u8>> {
    let response: Entries<'_> = serde_json::from_slice(body).ok()?;
    let field = |name: &str| {
        response
            .0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, raw)| *raw)
    };
    let end_ns = saturating_ns(duration);
    let children = match field("data") {
        Some(data) => serde_json::from_str::<Option<Entries<'_>>>(data.get())
            .ok()?
            .map(|data| {
                data.0
                    .into_iter()
                    .map(|(key, _)| TraceNode {
                        response_name: Some(key),
                        parent_type: "Query".to_owned(),
                        start_ns: 0,
                        end_ns,
                        ..TraceNode::default()
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let errors = match field("errors") {
        Some(errors) => serde_json::from_str::<Option<Vec<&RawValue>>>(errors.get())
            .ok()?
            .unwrap_or_default()
            .into_iter()
            .map(|error| TraceError {
                message: serde_json::from_str::<ErrorMessage>(error.get())
                    .map(|e| e.message)
                    .unwrap_or_default(),
                json: error.get().to_owned(),
            })
            .collect(),
        None => Vec::new(),
    };
    let trace = Trace {
        start,
        end,
        duration,
        root: TraceNode {
            errors,
            children,
            ..TraceNode::default()
        },
    };
    let mut proto = Vec::new();
    trace.encode(&mut proto);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&proto);

    let extensions = match field("extensions") {
        Some(raw) => serde_json::from_str::<Option<Entries<'_>>>(raw.get())
            .ok()
            .flatten()
            .map(|e| e.0)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(body.len() + encoded.len() + 32);
    out.push(b'{');
    for (key, raw) in response.0.iter().filter(|(key, _)| key != "extensions") {
        member(&mut out, key, raw.get());
        out.push(b',');
    }
    out.extend_from_slice(b"\"extensions\":{");
    for (key, raw) in extensions.iter().filter(|(key, _)| key != "ftv1") {
        member(&mut out, key, raw.get());
        out.push(b',');
    }
    out.extend_from_slice(b"\"ftv1\":\"");
    // The standard base64 alphabet needs no escaping in a JSON string.
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(b"\"}}");
    Some(out)
}

/// Writes `"key":value`, with `value` already JSON text.
fn member(out: &mut Vec<u8>, key: &str, value: &str) {
    serde_json::to_writer(&mut *out, key).expect("writing a string to a Vec cannot fail");
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
}

#[derive(Deserialize)]
struct ErrorMessage {
    #[serde(default)]
    message: String,
}

/// A JSON object's members in their order, each value left as unparsed JSON text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    entries.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded protobuf field: its number and its value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Field {
        Varint(u32, u64),
        Len(u32, Vec<u8>),
    }

    fn read_varint(input: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = input.split_first().expect("a varint byte");
            *input = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
        }
        panic!("varint longer than ten bytes");
    }

    /// Decodes one message's fields; panics on any wire type other than varint and
    /// length-delimited, so a wrong wire type fails the test.
    fn decode(mut input: &[u8]) -> Vec<Field> {
        let mut fields = Vec::new();
        while !input.is_empty() {
            let key = read_varint(&mut input);
            let number = u32::try_from(key >> 3).unwrap();
            match key & 7 {
                0 => fields.push(Field::Varint(number, read_varint(&mut input))),
                2 => {
                    let len = usize::try_from(read_varint(&mut input)).unwrap();
                    let (value, rest) = input.split_at(len);
                    fields.push(Field::Len(number, value.to_vec()));
                    input = rest;
                }
                other => panic!("unexpected wire type {other} for field {number}"),
            }
        }
        fields
    }

    fn varint_bytes(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, value);
        out
    }

    #[test]
    fn varints_match_the_protobuf_encoding() {
        assert_eq!(varint_bytes(0), [0x00]);
        assert_eq!(varint_bytes(1), [0x01]);
        assert_eq!(varint_bytes(127), [0x7f]);
        assert_eq!(varint_bytes(128), [0x80, 0x01]);
        assert_eq!(varint_bytes(300), [0xac, 0x02]);
        assert_eq!(
            varint_bytes(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn a_small_trace_has_the_exact_bytes_worked_out_by_hand() {
        let trace = Trace {
            start: UNIX_EPOCH + Duration::new(1, 2),
            end: UNIX_EPOCH + Duration::new(3, 0),
            duration: Duration::from_nanos(300),
            root: TraceNode {
                children: vec![TraceNode {
                    response_name: Some("a".into()),
                    parent_type: "Q".into(),
                    end_ns: 5,
                    ..TraceNode::default()
                }],
                errors: vec![TraceError {
                    message: "m".into(),
                    json: "{}".into(),
                }],
                ..TraceNode::default()
            },
        };
        let mut out = Vec::new();
        trace.encode(&mut out);
        #[rustfmt::skip]
        let expected = [
            0x1a, 0x02, 0x08, 0x03,             // end_time (3, len): seconds = 3
            0x22, 0x04, 0x08, 0x01, 0x10, 0x02, // start_time (4, len): seconds = 1, nanos = 2
            0x58, 0xac, 0x02,                   // duration_ns (11, varint) = 300
            0x72, 0x13,                         // root (14, len), 19 bytes:
            0x5a, 0x07,                         //   error (11, len), 7 bytes:
            0x0a, 0x01, b'm',                   //     message (1) = "m"
            0x22, 0x02, b'{', b'}',             //     json (4) = "{}"
            0x62, 0x08,                         //   child (12, len), 8 bytes:
            0x0a, 0x01, b'a',                   //     response_name (1) = "a"
            0x48, 0x05,                         //     end_time (9, varint) = 5
            0x6a, 0x01, b'Q',                   //     parent_type (13) = "Q"
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn every_field_decodes_with_its_number_and_wire_type() {
        let start = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let trace = Trace {
            start,
            end: start + Duration::from_millis(2),
            duration: Duration::from_nanos(2_000_123),
            root: TraceNode {
                children: vec![TraceNode {
                    response_name: Some("orgUser".into()),
                    ty: "OrgUser".into(),
                    parent_type: "Query".into(),
                    start_ns: 7,
                    end_ns: 2_000_123,
                    ..TraceNode::default()
                }],
                ..TraceNode::default()
            },
        };
        let mut out = Vec::new();
        trace.encode(&mut out);
        let fields = decode(&out);
        assert_eq!(
            fields,
            [
                Field::Len(
                    3,
                    vec![
                        0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x95, 0xa3, 0xe9, 0x3b
                    ]
                ),
                Field::Len(
                    4,
                    vec![
                        0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x95, 0x9a, 0xef, 0x3a
                    ]
                ),
                Field::Varint(11, 2_000_123),
                fields[3].clone(),
            ]
        );
        assert_eq!(
            decode(&[
                0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x95, 0x9a, 0xef, 0x3a
            ]),
            [
                Field::Varint(1, 1_700_000_000),
                Field::Varint(2, 123_456_789)
            ]
        );
        let Field::Len(14, root) = &fields[3] else {
            panic!("root is field 14, length-delimited: {fields:?}")
        };
        let root = decode(root);
        let [Field::Len(12, child)] = root.as_slice() else {
            panic!("the root holds one child, field 12: {root:?}")
        };
        assert_eq!(
            decode(child),
            [
                Field::Len(1, b"orgUser".to_vec()),
                Field::Len(3, b"OrgUser".to_vec()),
                Field::Varint(8, 7),
                Field::Varint(9, 2_000_123),
                Field::Len(13, b"Query".to_vec()),
            ]
        );
    }

    #[test]
    fn a_time_before_the_epoch_has_negative_seconds_and_positive_nanos() {
        let mut out = Vec::new();
        timestamp(&mut out, UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!(
            decode(&out),
            [
                Field::Varint(1, (-2i64) as u64),
                Field::Varint(2, 500_000_000),
            ]
        );
    }

    fn traced(body: &str) -> serde_json::Value {
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let out = with_trace(body.as_bytes(), start, start, Duration::from_nanos(42))
            .expect("a JSON object");
        serde_json::from_slice(&out).expect("still JSON")
    }

    fn trace_of(response: &serde_json::Value) -> Vec<Field> {
        let encoded = response["extensions"]["ftv1"]
            .as_str()
            .expect("ftv1 is a string");
        decode(
            &base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
    }

    #[test]
    fn the_response_keeps_its_data_and_gets_one_node_per_top_level_key() {
        let body = r#"{"data":{"zeta":1,"alpha":{"b":2,"a":1}},"errors":[{"message":"bad","path":["zeta"]}]}"#;
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let out = with_trace(body.as_bytes(), start, start, Duration::from_nanos(42)).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.starts_with(
                r#"{"data":{"zeta":1,"alpha":{"b":2,"a":1}},"errors":[{"message":"bad","path":["zeta"]}],"extensions":{"ftv1":""#
            ),
            "data and errors are copied as they were: {text}"
        );
        let response: serde_json::Value = serde_json::from_str(text).unwrap();
        let trace = trace_of(&response);
        assert_eq!(trace[2], Field::Varint(11, 42));
        let Field::Len(14, root) = &trace[3] else {
            panic!("{trace:?}")
        };
        let root = decode(root);
        assert_eq!(root.len(), 3, "one error and two children: {root:?}");
        let Field::Len(11, error) = &root[0] else {
            panic!("{root:?}")
        };
        assert_eq!(
            decode(error),
            [
                Field::Len(1, b"bad".to_vec()),
                Field::Len(4, br#"{"message":"bad","path":["zeta"]}"#.to_vec()),
            ]
        );
        let names: Vec<Vec<Field>> = root[1..]
            .iter()
            .map(|field| match field {
                Field::Len(12, child) => decode(child),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                vec![
                    Field::Len(1, b"zeta".to_vec()),
                    Field::Varint(9, 42),
                    Field::Len(13, b"Query".to_vec()),
                ],
                vec![
                    Field::Len(1, b"alpha".to_vec()),
                    Field::Varint(9, 42),
                    Field::Len(13, b"Query".to_vec()),
                ],
            ]
        );
    }

    #[test]
    fn existing_extensions_are_kept_beside_ftv1() {
        let response = traced(r#"{"data":{"x":null},"extensions":{"graft":{"batch":{}}}}"#);
        assert_eq!(
            response["extensions"]["graft"],
            serde_json::json!({"batch": {}})
        );
        assert!(response["extensions"]["ftv1"].is_string());
        assert_eq!(response["data"], serde_json::json!({"x": null}));
    }

    #[test]
    fn a_request_error_gets_a_trace_with_its_errors_and_no_children() {
        let response = traced(r#"{"errors":[{"message":"no query"}]}"#);
        assert!(response.get("data").is_none());
        let trace = trace_of(&response);
        let Field::Len(14, root) = &trace[3] else {
            panic!("{trace:?}")
        };
        let root = decode(root);
        assert!(matches!(root.as_slice(), [Field::Len(11, _)]), "{root:?}");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_left_alone() {
        let clock = TraceClock::start();
        assert_eq!(add_to_response(b"[1]".to_vec(), clock), b"[1]");
    }
}
