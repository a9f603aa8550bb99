//! A [`Shape`] from nf_tables' own dump (see [`crate::dump`] for why the
//! kernel is asked directly): each object's attributes, raw, less what
//! changes without anyone changing the table — handles, use counts, the
//! kernel's ids, counters' values, a set's element count.
//!
//! Raw bytes are enough because a dumped shape is only ever compared with
//! another dumped shape: the one recorded right after an install.

use serde_json::{Map, Value};

use super::Shape;
use crate::dump::{
    Dumped, GET_CHAIN, GET_FLOWTABLE, GET_OBJ, GET_RULE, GET_SET, GET_TABLE, attributes,
};

/// A name attribute's text (NUL-terminated in the kernel's answer).
fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value.strip_suffix(&[0]).unwrap_or(value)).into_owned()
}

fn hex(value: &[u8]) -> Value {
    Value::String(value.iter().map(|b| format!("{b:02x}")).collect())
}

/// The attributes of one kind of object that say nothing about what the
/// table decides: handles, use counts, padding, the kernel's ids, and
/// what counts at run time.
fn volatile(kind: u8, attr: u16) -> bool {
    match kind {
        GET_TABLE => matches!(attr, 3..=5), // use, handle, pad
        GET_CHAIN => matches!(attr, 2 | 6 | 8 | 9 | 11), // handle, use, counters, pad, id
        GET_RULE => matches!(attr, 3 | 6 | 8 | 9), // handle, position, pad, id
        // id, pad, handle, the kernel's backend and its element count
        GET_SET => matches!(attr, 10 | 14 | 16 | 19 | 20),
        GET_OBJ => matches!(attr, 5..=7),       // use, handle, pad
        GET_FLOWTABLE => matches!(attr, 4..=6), // use, handle, pad
        _ => false,
    }
}

/// A set attribute's name, for [`super::Difference::SetChanged`].
fn set_field(attr: u16) -> String {
    match attr {
        3 => "flags".into(),
        4 => "key type".into(),
        5 => "key length".into(),
        6 => "data type".into(),
        7 => "data length".into(),
        8 => "policy".into(),
        9 => "size".into(),
        11 => "timeout".into(),
        12 => "gc interval".into(),
        13 => "comment and user data".into(),
        15 => "object type".into(),
        17 | 18 => "expressions".into(),
        n => format!("attribute {n}"),
    }
}

/// A stateful object's kind by its `NFT_OBJECT_*` number.
fn object_kind(value: &[u8]) -> String {
    let n = value
        .get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match n {
        1 => "counter".into(),
        2 => "quota".into(),
        3 => "ct helper".into(),
        4 => "limit".into(),
        5 => "connlimit".into(),
        6 => "tunnel".into(),
        7 => "ct timeout".into(),
        8 => "secmark".into(),
        9 => "ct expectation".into(),
        10 => "synproxy".into(),
        n => format!("object type {n}"),
    }
}

/// A rule's expressions, each by name with its data; a counter's data
/// (packets, bytes) is left out.
fn expressions(value: &[u8]) -> Value {
    Value::Array(
        attributes(value)
            .map(|(_, elem)| {
                let mut name = String::new();
                let mut data = Value::Null;
                for (attr, v) in attributes(elem) {
                    match attr {
                        1 => name = text(v),
                        2 => data = hex(v),
                        _ => {}
                    }
                }
                if name == "counter" {
                    data = Value::Null;
                }
                serde_json::json!({ "name": name, "data": data })
            })
            .collect(),
    )
}

/// Whether a set is one of a rule's anonymous sets (`tcp dport { 25,
/// 465 }`, named `__setN` by nft): flag `NFT_SET_ANONYMOUS`. It lives and
/// dies with its rule, whose lookup names it, so a change to it is a
/// change to the rule.
fn anonymous(attrs: &[u8]) -> bool {
    attributes(attrs)
        .find(|(attr, _)| *attr == 3)
        .and_then(|(_, v)| v.get(..4))
        .is_some_and(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 1 != 0)
}

impl Shape {
    /// The shape of the objects [`crate::dump::table`] read; `None` when
    /// they hold no table.
    pub(crate) fn from_dump(objects: &[Dumped]) -> Option<Shape> {
        let mut shape = Shape::default();
        let mut found = false;
        for object in objects {
            let mut body = Map::new();
            let mut name = String::new();
            let mut chain = String::new();
            let mut obj_kind = String::new();
            if object.kind == GET_SET && anonymous(&object.attrs) {
                continue; // part of the rule that uses it, as in nft's listing
            }
            for (attr, value) in attributes(&object.attrs) {
                if volatile(object.kind, attr) {
                    continue;
                }
                let (key, v) = match (object.kind, attr) {
                    (GET_TABLE, 1) | (GET_CHAIN, 3) | (GET_SET | GET_OBJ | GET_FLOWTABLE, 2) => {
                        name = text(value);
                        ("name".to_owned(), Value::String(name.clone()))
                    }
                    (GET_RULE, 2) => {
                        chain = text(value);
                        ("chain".to_owned(), Value::String(chain.clone()))
                    }
                    (GET_RULE, 4) => ("expressions".to_owned(), expressions(value)),
                    (GET_OBJ, 3) => {
                        obj_kind = object_kind(value);
                        ("type".to_owned(), hex(value))
                    }
                    (GET_SET, n) => (set_field(n), hex(value)),
                    (_, n) => (format!("attribute {n}"), hex(value)),
                };
                body.insert(key, v);
            }
            if object.kind == GET_OBJ && matches!(obj_kind.as_str(), "counter" | "quota") {
                body.remove("attribute 4"); // what it counted
            }
            let body = Value::Object(body);
            match object.kind {
                GET_TABLE => {
                    found = true;
                    shape.table = body;
                }
                GET_CHAIN => {
                    shape.rules.entry(name.clone()).or_default();
                    shape.chains.insert(name, body);
                }
                GET_RULE => shape.rules.entry(chain).or_default().push(body),
                GET_SET => {
                    shape.sets.insert(name, body);
                }
                GET_OBJ => {
                    shape.others.insert((obj_kind, name), body);
                }
                _ => {
                    shape.others.insert(("flowtable".to_owned(), name), body);
                }
            }
        }
        found.then_some(shape)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// One attribute, padded as the kernel pads it.
    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(4 + value.len()).unwrap().to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &parts.concat())
    }

    fn expr(name: &str, data: &[u8]) -> Vec<u8> {
        nested(
            1,
            &[
                attr(1, format!("{name}\0").as_bytes()),
                nested(2, &[attr(1, data)]),
            ],
        )
    }

    fn dumped(kind: u8, parts: &[Vec<u8>]) -> Dumped {
        Dumped {
            kind,
            attrs: parts.concat(),
        }
    }

    /// A table with a chain of two rules (one counting), a set and a
    /// named counter; `n` is what the kernel numbers at run time.
    fn objects(n: u8, flags: u8, packets: u8) -> Vec<Dumped> {
        let table = attr(1, b"cordon\0");
        vec![
            dumped(
                GET_TABLE,
                &[
                    attr(1, b"cordon\0"),
                    attr(2, &[0, 0, 0, flags]),
                    attr(4, &[n; 8]),
                ],
            ),
            dumped(
                GET_CHAIN,
                &[
                    table.clone(),
                    attr(2, &[n; 8]),
                    attr(3, b"forward\0"),
                    attr(6, &[0, 0, 0, n]),
                ],
            ),
            dumped(
                GET_RULE,
                &[
                    table.clone(),
                    attr(2, b"forward\0"),
                    attr(3, &[n; 8]),
                    nested(4, &[expr("meta", &[1]), expr("counter", &[packets; 8])]),
                ],
            ),
            dumped(
                GET_RULE,
                &[
                    table.clone(),
                    attr(2, b"forward\0"),
                    nested(4, &[expr("immediate", &[2])]),
                ],
            ),
            dumped(
                GET_SET,
                &[
                    table.clone(),
                    attr(2, b"garden_v4\0"),
                    attr(3, &[0, 0, 0, 4]),
                    attr(16, &[n; 8]),
                    attr(20, &[0, 0, 0, n]),
                ],
            ),
            dumped(
                GET_OBJ,
                &[
                    table,
                    attr(2, b"stranger\0"),
                    attr(3, &[0, 0, 0, 1]),
                    nested(4, &[attr(1, &[packets; 8])]),
                ],
            ),
        ]
    }

    fn texts(installed: &Shape, live: &Shape) -> Vec<String> {
        installed
            .differences(live)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn handles_counts_and_counters_are_not_differences() {
        let installed = Shape::from_dump(&objects(1, 0, 0)).unwrap();
        assert!(texts(&installed, &Shape::from_dump(&objects(7, 0, 9)).unwrap()).is_empty());
        // What an install records leaves the stranger out; a later dump names it.
        assert_eq!(
            texts(
                &installed.clone().declared(),
                &Shape::from_dump(&objects(1, 0, 0)).unwrap()
            ),
            ["counter stranger: added, removed or changed"]
        );
        assert!(
            Shape::from_dump(&objects(1, 0, 0)[1..]).is_none(),
            "no table"
        );
        // A rule's anonymous set is not a set of the table's own.
        let mut anonymous = objects(1, 0, 0);
        anonymous.push(dumped(
            GET_SET,
            &[attr(2, b"__set0\0"), attr(3, &[0, 0, 0, 3])],
        ));
        assert!(texts(&installed, &Shape::from_dump(&anonymous).unwrap()).is_empty());
    }

    #[test]
    fn flags_rules_and_set_definitions_are_differences() {
        let installed = Shape::from_dump(&objects(1, 0, 0)).unwrap();
        let dormant = Shape::from_dump(&objects(1, 1, 0)).unwrap();
        assert_eq!(
            texts(&installed, &dormant),
            ["table: attributes changed (flags?)"]
        );

        let mut changed = objects(1, 0, 0);
        changed.remove(3); // the second rule
        changed[3].attrs = [attr(1, b"cordon\0"), attr(2, b"garden_v4\0")].concat();
        assert_eq!(
            texts(&installed, &Shape::from_dump(&changed).unwrap()),
            [
                "chain forward: 1 rules, expected 2",
                "set garden_v4: definition changed (flags)",
            ]
        );
        changed.remove(1); // the chain
        assert!(
            texts(&installed, &Shape::from_dump(&changed).unwrap())
                .contains(&"chain forward: missing".to_owned())
        );
    }
}
