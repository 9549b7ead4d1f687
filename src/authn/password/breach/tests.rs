use super::*;
use crate::ports::memory::{block_on, TablePeer};

const RANGE: &str = "https://pwned.test/range/";

/// SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8.
#[test]
fn only_five_hex_digits_of_the_sha1_are_sent() {
    let query = range_query(b"password");
    assert_eq!(query.prefix, "5BAA6");
    assert_eq!(query.suffix, "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
    let peer = TablePeer::default();
    peer.answer_raw(&format!("{RANGE}5BAA6"), 200, b"1E4C9B93F3F0682250B6CF8331B7EE68FD8:52256179\r\n");
    assert_eq!(
        block_on(check(&peer, RANGE, b"password", WhenUnavailable::FailClosed)),
        BreachVerdict::Breached(52_256_179)
    );
    let sent = peer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url, "https://pwned.test/range/5BAA6", "the prefix and nothing else");
    assert!(!sent[0].url.contains("1E4C9B"), "the suffix never leaves");
    assert!(sent[0].headers.contains(&("add-padding".into(), "true".into())));
}

#[test]
fn absent_and_padded_suffixes_are_not_breached() {
    let query = range_query(b"password");
    let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n";
    assert_eq!(times_breached(body, &query), Ok(0), "a padded line has count 0");
    assert_eq!(times_breached("", &query), Ok(0));
    let lower = "1e4c9b93f3f0682250b6cf8331b7ee68fd8:3\n";
    assert_eq!(times_breached(lower, &query), Ok(3), "hex case does not matter");
}

#[test]
fn malformed_answers_are_errors_and_follow_the_failure_mode() {
    let query = range_query(b"password");
    assert_eq!(times_breached("not a range answer", &query), Err(RangeError::Malformed(1)));
    assert_eq!(times_breached("1E4C9B93F3F0682250B6CF8331B7EE68FD8:many", &query), Err(RangeError::Malformed(1)));
    assert_eq!(times_breached("ABC:1", &query), Err(RangeError::Malformed(1)));
    let too_long = "0018A45C4D1DEF81644B54AB7F969B88D65:1\n".repeat(MAX_LINES + 1);
    assert_eq!(times_breached(&too_long, &query), Err(RangeError::TooLong));
    let peer = TablePeer::default();
    peer.answer_raw(&format!("{RANGE}5BAA6"), 200, b"<html>rate limited</html>");
    assert_eq!(block_on(check(&peer, RANGE, b"password", WhenUnavailable::FailClosed)), BreachVerdict::Unavailable);
    assert_eq!(block_on(check(&peer, RANGE, b"password", WhenUnavailable::FailOpen)), BreachVerdict::NotFound);
    peer.answer_raw(&format!("{RANGE}5BAA6"), 503, b"");
    assert_eq!(block_on(check(&peer, RANGE, b"password", WhenUnavailable::FailClosed)), BreachVerdict::Unavailable);
    let silent = TablePeer::default();
    assert_eq!(block_on(check(&silent, RANGE, b"password", WhenUnavailable::FailClosed)), BreachVerdict::Unavailable);
    assert_eq!(block_on(check(&silent, RANGE, b"password", WhenUnavailable::FailOpen)), BreachVerdict::NotFound);
}

proptest::proptest! {
    #![proptest_config(crate::testing::generative(256))]

    /// Any answer is read without a panic.
    #[test]
    fn arbitrary_answers_never_panic(body in "\\PC{0,400}") {
        let _ = times_breached(&body, &range_query(b"password"));
    }

    /// A well-formed answer reads back the count of exactly the asked suffix.
    #[test]
    fn well_formed_answers_round_trip(
        others in proptest::collection::vec(("[0-9A-F]{35}", 0u64..1_000_000), 0..20),
        count in 1u64..1_000_000_000,
        listed in proptest::prelude::any::<bool>(),
        at in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let query = range_query(b"hunter2");
        let mut lines: Vec<String> = others.iter().filter(|(s, _)| *s != query.suffix).map(|(s, c)| format!("{s}:{c}")).collect();
        if listed {
            lines.insert(at.index(lines.len() + 1), format!("{}:{count}", query.suffix));
        }
        let expected = if listed { count } else { 0 };
        proptest::prop_assert_eq!(times_breached(&lines.join("\r\n"), &query), Ok(expected));
    }
}
