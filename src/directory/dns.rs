//! DNS-over-HTTPS answers in the JSON form (`application/dns-json`, as Cloudflare's and Google's
//! resolvers give it): the TXT strings recorded for a name. The body comes from the network, so
//! nothing in it may panic, and only answers for the name asked about count.

use serde::Deserialize;

/// The most TXT strings kept from one answer.
const MAX_RECORDS: usize = 64;

/// The DNS record type of TXT.
const TXT: u16 = 16;

/// Why an answer was not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// Not the resolver's JSON.
    Malformed,
    /// The resolver failed (SERVFAIL, REFUSED, ...): nothing is known either way.
    ResolverFailed(u16),
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Status")]
    status: u16,
    #[serde(rename = "Answer", default)]
    answer: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    name: String,
    #[serde(rename = "type")]
    kind: u16,
    data: String,
}

/// The NXDOMAIN response code: the name does not exist, so it has no records.
const NXDOMAIN: u16 = 3;

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The TXT records of `name` in a DoH JSON answer, each the concatenation of its strings.
pub fn txt_records(body: &[u8], name: &str) -> Result<Vec<String>, DnsError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|_| DnsError::Malformed)?;
    match answer.status {
        0 => {}
        NXDOMAIN => return Ok(Vec::new()),
        other => return Err(DnsError::ResolverFailed(other)),
    }
    Ok(answer
        .answer
        .iter()
        .filter(|record| record.kind == TXT && same_name(&record.name, name))
        .filter_map(|record| character_strings(&record.data))
        .take(MAX_RECORDS)
        .collect())
}

/// A TXT record's presentation form: one or more quoted strings (`"a" "b"`) with `\"`, `\\` and
/// `\DDD` escapes, concatenated; an unquoted single string is taken as it is. `None` when the
/// quoting is broken.
fn character_strings(data: &str) -> Option<String> {
    let data = data.trim();
    if !data.starts_with('"') {
        return Some(data.to_owned());
    }
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.bytes();
    loop {
        match bytes.next() {
            None => return String::from_utf8(out).ok(),
            Some(b' ' | b'\t') => continue,
            Some(b'"') => {}
            Some(_) => return None,
        }
        loop {
            match bytes.next()? {
                b'"' => break,
                b'\\' => match bytes.next()? {
                    digit @ b'0'..=b'9' => {
                        let rest = [bytes.next()?, bytes.next()?];
                        let digits = [digit, rest[0], rest[1]];
                        let text = std::str::from_utf8(&digits).ok()?;
                        out.push(text.parse::<u8>().ok()?);
                    }
                    other => out.push(other),
                },
                other => out.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(records: &str) -> String {
        format!(r#"{{"Status":0,"TC":false,"Question":[{{"name":"_c.acme.test","type":16}}],"Answer":[{records}]}}"#)
    }

    #[test]
    fn reads_the_txt_strings_of_the_name_asked_about() {
        let body = answer(
            r#"{"name":"_c.acme.test.","type":16,"TTL":300,"data":"\"portcullis-verification=abc\""},
               {"name":"_c.acme.test","type":16,"TTL":300,"data":"\"split \" \"in two\""},
               {"name":"_c.other.test","type":16,"TTL":300,"data":"\"portcullis-verification=evil\""},
               {"name":"_c.acme.test","type":5,"TTL":300,"data":"elsewhere.test."}"#,
        );
        let records = txt_records(body.as_bytes(), "_c.ACME.test").unwrap();
        assert_eq!(records, vec!["portcullis-verification=abc".to_owned(), "split in two".to_owned()]);
    }

    #[test]
    fn unescapes_quotes_backslashes_and_decimal_bytes() {
        let body = answer(r#"{"name":"_c.acme.test","type":16,"data":"\"a\\\"b\\\\c\\065\""}"#);
        assert_eq!(txt_records(body.as_bytes(), "_c.acme.test").unwrap(), vec![r#"a"b\cA"#.to_owned()]);
    }

    #[test]
    fn a_missing_name_has_no_records_and_a_failing_resolver_is_an_error() {
        assert_eq!(txt_records(br#"{"Status":3}"#, "x.test"), Ok(Vec::new()));
        assert_eq!(txt_records(br#"{"Status":0}"#, "x.test"), Ok(Vec::new()));
        assert_eq!(txt_records(br#"{"Status":2}"#, "x.test"), Err(DnsError::ResolverFailed(2)));
        assert_eq!(txt_records(b"<html>", "x.test"), Err(DnsError::Malformed));
    }

    #[test]
    fn broken_quoting_is_dropped_not_guessed() {
        for data in [r#"\"open"#, r#"\"a\" junk"#, r#"\"bad \\9\""#, r#"\"\\999\""#, r#"\"trailing \\"#] {
            let body = answer(&format!(r#"{{"name":"_c.acme.test","type":16,"data":"{data}"}}"#));
            assert_eq!(txt_records(body.as_bytes(), "_c.acme.test"), Ok(Vec::new()), "{data}");
        }
    }

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = txt_records(&body, "_c.acme.test");
            }

            #[test]
            fn arbitrary_record_data_never_panics(data in ".{0,200}") {
                let body = serde_json::json!({ "Status": 0, "Answer": [{ "name": "n.test", "type": 16, "data": data }] });
                let _ = txt_records(body.to_string().as_bytes(), "n.test");
            }

            #[test]
            fn a_quoted_string_reads_back_as_itself(text in "[ -~]{0,100}") {
                let quoted = format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
                let body = serde_json::json!({ "Status": 0, "Answer": [{ "name": "n.test", "type": 16, "data": quoted }] });
                prop_assert_eq!(txt_records(body.to_string().as_bytes(), "n.test").unwrap(), vec![text]);
            }
        }
}
