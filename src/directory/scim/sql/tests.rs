//! Filters as SQL: one line a case, and a generative proof that values never become SQL text.

use super::*;
use crate::directory::scim::filter::parse;
use proptest::prelude::*;

fn clause(text: &str) -> Result<(String, Vec<String>), String> {
    let filter = parse(text).map_err(|e| e.0)?;
    let clause = where_clause(&filter, USER_COLUMNS).map_err(|e| e.0)?;
    let params = clause.params.into_iter().map(|SqlValue::Text(t)| t).collect();
    Ok((clause.sql, params))
}

#[test]
fn filters_become_parameterised_sql() {
    let cases: &[(&str, &str, &[&str])] = &[
        (r#"userName eq "Bjensen""#, "user_name = ? COLLATE NOCASE", &["Bjensen"]),
        (r#"externalId eq "E1""#, "external_id = ?", &["E1"]),
        (r#"userName ne "b""#, "(user_name IS NULL OR user_name <> ? COLLATE NOCASE)", &["b"]),
        (r#"emails.value co "50%_off\\""#, "email LIKE ? ESCAPE '\\'", &["%50\\%\\_off\\\\%"]),
        (r#"emails co "@x.test""#, "email LIKE ? ESCAPE '\\'", &["%@x.test%"]),
        (r#"emails[value ew "@x.test"]"#, "email LIKE ? ESCAPE '\\'", &["%@x.test"]),
        (r#"displayName sw "Al""#, "name LIKE ? ESCAPE '\\'", &["Al%"]),
        (r#"externalId sw "E""#, "instr(external_id, ?) = 1", &["E"]),
        (r#"externalId co "E""#, "instr(external_id, ?) > 0", &["E"]),
        (
            r#"externalId ew "9""#,
            "(external_id IS NOT NULL AND (? = '' OR substr(external_id, -length(?)) = ?))",
            &["9", "9", "9"],
        ),
        (r#"userName gt "m""#, "user_name > ? COLLATE NOCASE", &["m"]),
        (r#"externalId pr"#, "(external_id IS NOT NULL AND external_id <> '')", &[]),
        (r#"active eq true"#, "status = 'active'", &[]),
        (r#"active eq false"#, "status <> 'active'", &[]),
        (r#"active ne true"#, "status <> 'active'", &[]),
        (
            r#"userName eq "a" or not (externalId eq "b" and active eq true)"#,
            "(user_name = ? COLLATE NOCASE OR NOT ((IFNULL(external_id = ?, 0) AND IFNULL(status = 'active', 0))))",
            &["a", "b"],
        ),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#, "user_name = ? COLLATE NOCASE", &["a"]),
    ];
    for (text, sql, params) in cases {
        let expected: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        assert_eq!(clause(text), Ok((sql.to_string(), expected)), "{text}");
    }
}

#[test]
fn what_the_table_cannot_answer_is_an_invalid_filter() {
    let cases = [
        (r#"title eq "x""#, "cannot be filtered on"),
        (r#"emails.type eq "work""#, "cannot be filtered on"),
        (r#"emails[type eq "work"]"#, "cannot be filtered on"),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#, "not an attribute"),
        (r#"active eq "yes""#, "true or false"),
        (r#"active gt true"#, "only eq and ne"),
        (r#"userName eq 1"#, "compares with a string"),
        (r#"userName eq null"#, "compares with a string"),
        (r#"emails[value eq "a" and emails[value eq "b"]]"#, "cannot be filtered on"),
    ];
    for (text, reason) in cases {
        match clause(text) {
            Err(message) => assert!(message.contains(reason), "{text}: {message}"),
            Ok(sql) => panic!("{text} became {sql:?}"),
        }
    }
}

proptest! {
    #![proptest_config(crate::testing::generative(256))]
/// Whatever a filter's values hold (quotes, semicolons, comments, SQL), they reach SQLite only
    /// as parameters: the SQL text never contains them, and every `?` has its parameter.
    #[test]
    fn values_never_become_sql(
        attribute in prop::sample::select(vec!["userName", "externalId", "emails.value", "displayName", "id"]),
        op in prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
        payload in "\\PC{0,40}",
        joiner in prop::sample::select(vec!["and", "or"]),
    ) {
        let marked = format!("zqj{payload}'; DROP TABLE users; --");
        let value = serde_json::to_string(&marked).unwrap();
        let text = format!("{attribute} {op} {value} {joiner} not (userName sw {value})");
        let (sql, params) = clause(&text).unwrap();
        prop_assert!(!sql.contains("zqj") && !sql.contains("DROP"), "{}", sql);
        prop_assert_eq!(sql.matches('?').count(), params.len());
        prop_assert!(params.iter().all(|p| p.contains("zqj")));
    }
}
