//! The filter grammar: RFC 7644's examples, refusals with a reason each, and generative tests.

use super::*;
use proptest::prelude::*;

fn path(name: &str, sub: Option<&str>) -> AttrPath {
    AttrPath { schema: None, name: name.into(), sub: sub.map(str::to_owned) }
}

fn cmp(name: &str, op: CompareOp, value: &str) -> Filter {
    Filter::Compare(path(name, None), op, CompValue::Str(value.into()))
}

#[test]
fn rfc_7644_examples_parse() {
    // RFC 7644 §3.4.2.2's examples, as written there.
    let examples = [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for example in examples {
        assert!(parse(example).is_ok(), "{example}: {:?}", parse(example));
    }
}

#[test]
fn trees_are_what_the_grammar_says() {
    let cases: Vec<(&str, Filter)> = vec![
        (r#"userName eq "bjensen""#, cmp("username", CompareOp::Eq, "bjensen")),
        (r#"USERNAME EQ "x""#, cmp("username", CompareOp::Eq, "x")),
        (r#"title pr"#, Filter::Present(path("title", None))),
        (
            r#"emails.value sw "a""#,
            Filter::Compare(path("emails", Some("value")), CompareOp::Sw, CompValue::Str("a".into())),
        ),
        (r#"active eq true"#, Filter::Compare(path("active", None), CompareOp::Eq, CompValue::Bool(true))),
        (r#"x eq null"#, Filter::Compare(path("x", None), CompareOp::Eq, CompValue::Null)),
        (r#"n gt -1.5e2"#, Filter::Compare(path("n", None), CompareOp::Gt, CompValue::Number(-150.0))),
        (r#"a eq "\u00e9\"""#, cmp("a", CompareOp::Eq, "é\"")),
        // "and" binds tighter than "or".
        (
            r#"a eq "1" or b eq "2" and c eq "3""#,
            Filter::Or(
                Box::new(cmp("a", CompareOp::Eq, "1")),
                Box::new(Filter::And(Box::new(cmp("b", CompareOp::Eq, "2")), Box::new(cmp("c", CompareOp::Eq, "3")))),
            ),
        ),
        (
            r#"(a eq "1" or b eq "2") and c eq "3""#,
            Filter::And(
                Box::new(Filter::Or(Box::new(cmp("a", CompareOp::Eq, "1")), Box::new(cmp("b", CompareOp::Eq, "2")))),
                Box::new(cmp("c", CompareOp::Eq, "3")),
            ),
        ),
        (r#"not (a eq "1")"#, Filter::Not(Box::new(cmp("a", CompareOp::Eq, "1")))),
        (
            r#"emails[value co "@x"]"#,
            Filter::ValuePath(path("emails", None), Box::new(cmp("value", CompareOp::Co, "@x"))),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text), Ok(expected), "{text}");
    }
}

#[test]
fn malformed_filters_are_refused_with_a_reason() {
    let cases = [
        ("", "ends too early"),
        (r#"userName"#, "expected an operator"),
        (r#"userName eq"#, "expected a value"),
        (r#"userName xx "a""#, "is not an operator"),
        (r#"userName eq "a"#, "unterminated"),
        (r#"userName eq "\x""#, "malformed string"),
        (r#"(userName eq "a""#, "without its ')'"),
        (r#"emails[value eq "a""#, "without its ']'"),
        (r#"userName eq "a" extra"#, "unexpected text"),
        (r#"userName eq "a" and"#, "ends too early"),
        (r#"user;Name eq "a""#, "unexpected character"),
        (r#"1abc eq "a""#, "expected an attribute path"),
        (r#"a.b.c eq "a""#, "is not an attribute path"),
        (r#"foo:bar eq "a""#, "is not an attribute path"),
        (r#"n eq 1e999"#, "malformed number"),
        (r#"emails.value[value eq "a"]"#, "not a sub-attribute"),
    ];
    for (text, reason) in cases {
        match parse(text) {
            Err(FilterError(message)) => assert!(message.contains(reason), "{text:?}: {message}"),
            Ok(filter) => panic!("{text:?} parsed as {filter:?}"),
        }
    }
}

#[test]
fn length_and_depth_are_bounded() {
    let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(parse(&deep).unwrap_err().0.contains("nested deeper"));
    let nots = format!("{}a pr{}", "not (".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(parse(&nots).unwrap_err().0.contains("nested deeper"));
    let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse(&ok).is_ok());
    let long = format!(r#"a eq "{}""#, "x".repeat(MAX_FILTER_BYTES));
    assert!(parse(&long).unwrap_err().0.contains("longer than"));
    // A flat chain is a loop, not recursion, but its comparisons are counted.
    let chain = vec![r#"a eq "1""#; MAX_COMPARISONS].join(" or ");
    assert!(parse(&chain).is_ok());
    let longer = vec![r#"a eq "1""#; MAX_COMPARISONS + 1].join(" or ");
    assert!(parse(&longer).unwrap_err().0.contains("comparisons"));
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]
/// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    /// Arbitrary bytes of the grammar's alphabet never panic it either, and brackets nested past
    /// the limit are refused rather than recursed into.
    #[test]
    fn grammar_soup_never_panics(text in "[a-z()\\[\\]\" .:\\\\0-9-]{0,300}") {
        let _ = parse(&text);
    }

    /// A parsed comparison keeps its value exactly, whatever the value holds.
    #[test]
    fn values_round_trip(value in "\\PC{0,60}") {
        let text = format!("userName eq {}", serde_json::to_string(&value).unwrap());
        prop_assert_eq!(parse(&text), Ok(cmp("username", CompareOp::Eq, &value)));
    }
}
