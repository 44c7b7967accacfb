//! The shapes the admin API accepts, stated once for both sides: each check
//! here (or the one it names) and the schema that declares it in
//! `/admin/openapi.json` use the same constants. A client generated from the
//! document, or a property-based tester, can then rely on it both ways: a
//! request the schema allows is never refused for its shape (only for a
//! state, as `404` or `409`), and one it forbids is refused with `400`.
//! `tests/schemathesis/run` checks exactly that against the running server.

use std::time::Duration;

use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

use crate::domain::client::ClientId;
use crate::domain::origin::MAX_ORIGIN_LEN;
use crate::domain::session::MAX_LABEL_LEN;
use crate::provisioning::MAX_CLIENT_ORIGINS;

/// A client id (RFC 6749 Appendix A `VSCHAR`), as [`ClientId::parse`] checks it.
pub const CLIENT_ID_PATTERN: &str = "^[ -~]{1,255}$";

/// A grant's session or device id, as [`crate::domain::session`] checks it:
/// 1 to 255 visible ASCII characters.
pub const LABEL_PATTERN: &str = "^[!-~]{1,255}$";

/// An origin as [`crate::domain::origin::check_origin`] checks it:
/// `http(s)://` and a host of printable ASCII without space, `/`, `?`, `#`,
/// `@`, `*` or `\`.
pub const ORIGIN_PATTERN: &str = r"^https?://[!-\x22$-)+-.0->A-\x5b\x5d-~]+$";

/// Free text an operator stores (names, subjects, scopes): no control
/// characters (Unicode category Cc, what `char::is_control` tests), which
/// could forge log lines.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// A token's SHA-256 in hex.
pub const TOKEN_HASH_PATTERN: &str = "^[0-9a-fA-F]{64}$";

/// An SSE event id: the outbox position `<transaction>.<id>`, each part 1 to
/// 18 decimal digits (so every value the pattern allows fits an `i64`).
pub const EVENT_ID_PATTERN: &str = r"^[0-9]{1,18}\.[0-9]{1,18}$";

/// The longest grace period a rotated secret may get.
pub const MAX_GRACE: Duration = Duration::from_secs(90 * 24 * 3600);

/// A grace period: one whole number (no leading zero) and one unit, at most
/// 90 days, the bound spelled out per unit so that the pattern allows
/// exactly what [`grace_period`] accepts: seconds up to 7,776,000, minutes up
/// to 129,600, hours up to 2,160, days up to 90.
pub const GRACE_PATTERN: &str = concat!(
    "^(?:",
    "(?:[0-9]|[1-9][0-9]{1,5}|[1-6][0-9]{6}|7[0-6][0-9]{5}|77[0-6][0-9]{4}|777[0-5][0-9]{3}|7776000)s",
    "|(?:[0-9]|[1-9][0-9]{1,4}|1[01][0-9]{4}|12[0-8][0-9]{3}|129[0-5][0-9]{2}|129600)m",
    "|(?:[0-9]|[1-9][0-9]{1,2}|1[0-9]{3}|20[0-9]{2}|21[0-5][0-9]|2160)h",
    "|(?:[0-9]|[1-8][0-9]|90)(?:d|days)",
    ")$"
);

/// The longest subject, in characters.
pub const MAX_SUBJECT: usize = 1024;
/// The longest scope, in characters.
pub const MAX_SCOPE: usize = 4096;
/// The longest client name, in characters.
pub const MAX_NAME: usize = 255;
/// The longest raw token handed over, in characters.
pub const MAX_TOKEN: usize = 4096;
/// Tokens per call at most (registering or adding).
pub const MAX_TOKENS: usize = 1000;
/// Grants minted per call at most.
pub const MAX_MINT: u32 = 1000;
/// The largest page.
pub const MAX_PAGE: u32 = 1000;

/// Parses a grace period of the form [`GRACE_PATTERN`] declares: digits
/// without a leading zero, then `s`, `m`, `h`, `d` or `days`, at most
/// [`MAX_GRACE`]. `None` for anything else (combined units such as
/// `1h 30m` included: the document could not bound them).
#[must_use]
pub fn grace_period(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 7 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "days" => 86_400,
        _ => return None,
    };
    let period = Duration::from_secs(number.checked_mul(seconds)?);
    (period <= MAX_GRACE).then_some(period)
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn nullable(builder: ObjectBuilder, kind: Type) -> ObjectBuilder {
    builder.schema_type(SchemaType::from_iter([kind, Type::Null]))
}

fn text(max: usize) -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(TEXT_PATTERN))
}

/// A client id.
#[must_use]
pub fn client_id() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(ClientId::MAX_LEN))
        .pattern(Some(CLIENT_ID_PATTERN))
        .build()
}

/// A client id, or `null` for none.
#[must_use]
pub fn optional_client_id() -> Object {
    nullable(
        string()
            .min_length(Some(1))
            .max_length(Some(ClientId::MAX_LEN))
            .pattern(Some(CLIENT_ID_PATTERN)),
        Type::String,
    )
    .build()
}

/// A subject.
#[must_use]
pub fn subject() -> Object {
    text(MAX_SUBJECT).build()
}

/// A login session or device id, or `null` for none.
#[must_use]
pub fn optional_label() -> Object {
    nullable(
        string()
            .min_length(Some(1))
            .max_length(Some(MAX_LABEL_LEN))
            .pattern(Some(LABEL_PATTERN)),
        Type::String,
    )
    .build()
}

/// A subject, or `null` for none.
#[must_use]
pub fn optional_subject() -> Object {
    nullable(text(MAX_SUBJECT), Type::String).build()
}

/// A scope, or `null` for none.
#[must_use]
pub fn optional_scope() -> Object {
    nullable(text(MAX_SCOPE), Type::String).build()
}

/// A client's display name, or `null` for none.
#[must_use]
pub fn optional_name() -> Object {
    nullable(text(MAX_NAME), Type::String).build()
}

fn origin() -> Object {
    string()
        .max_length(Some(MAX_ORIGIN_LEN))
        .pattern(Some(ORIGIN_PATTERN))
        .build()
}

/// A public client's browser origins.
#[must_use]
pub fn origins() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(origin())
        .max_items(Some(MAX_CLIENT_ORIGINS))
        .build()
}

/// A public client's browser origins, or `null` for unchanged.
#[must_use]
pub fn optional_origins() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(origin())
        .max_items(Some(MAX_CLIENT_ORIGINS))
        .build()
}

/// A grace period, or `null` for none.
#[must_use]
pub fn optional_grace_period() -> Object {
    nullable(string().pattern(Some(GRACE_PATTERN)), Type::String)
        .examples(["1h", "7d"])
        .build()
}

/// A raw token handed over, or `null` when its hash is given.
#[must_use]
pub fn optional_token() -> Object {
    nullable(
        string().min_length(Some(1)).max_length(Some(MAX_TOKEN)),
        Type::String,
    )
    .build()
}

/// A token's SHA-256, or `null` when the raw token is given.
#[must_use]
pub fn optional_token_hash() -> Object {
    nullable(string().pattern(Some(TOKEN_HASH_PATTERN)), Type::String).build()
}

/// A lifetime in seconds (any `u32`), or `null` for the configured one.
#[must_use]
pub fn optional_ttl() -> Object {
    nullable(ObjectBuilder::new(), Type::Integer)
        .minimum(Some(0))
        .maximum(Some(u32::MAX))
        .build()
}

/// How many grants to mint, or `null` for one.
#[must_use]
pub fn optional_count() -> Object {
    nullable(ObjectBuilder::new(), Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_MINT))
        .build()
}

/// A page size.
#[must_use]
pub fn limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE))
        .build()
}

/// The `Last-Event-ID` header.
#[must_use]
pub fn event_id() -> Object {
    string().pattern(Some(EVENT_ID_PATTERN)).build()
}

/// A webhook delivery state filter.
#[must_use]
pub fn delivery_state() -> Object {
    string()
        .enum_values(Some(["pending", "delivered", "dead"]))
        .build()
}

/// The `error` of an error answer: a closed set.
#[must_use]
pub fn error_code() -> Object {
    string()
        .enum_values(Some([
            "invalid_request",
            "invalid_token",
            "not_found",
            "conflict",
            "temporarily_unavailable",
            "server_error",
        ]))
        .build()
}

/// A Shared Signals receiver id: what `ReceiverId::parse` takes.
pub const RECEIVER_ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// A receiver id.
#[must_use]
pub fn receiver_id() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(crate::domain::shared_signals::MAX_RECEIVER_ID))
        .pattern(Some(RECEIVER_ID_PATTERN))
        .build()
}

/// A receiver's push origins: origins as for browsers, at most eight.
#[must_use]
pub fn push_origins() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(origin())
        .max_items(Some(crate::shared_signals::receivers::MAX_PUSH_ORIGINS))
        .build()
}

/// A receiver's audience, or `null` for its id.
#[must_use]
pub fn optional_audience() -> Object {
    nullable(
        string()
            .min_length(Some(1))
            .max_length(Some(crate::shared_signals::receivers::MAX_AUDIENCE))
            .pattern(Some(TEXT_PATTERN)),
        Type::String,
    )
    .build()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::domain::event::EventPosition;
    use crate::domain::origin::check_origin;
    use crate::domain::session::SessionId;

    fn pattern(source: &str) -> Regex {
        Regex::new(source).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    /// Each pattern the document declares allows exactly what its check
    /// accepts: near every bound of the grace period, and on random text.
    #[test]
    fn the_grace_pattern_allows_what_the_check_accepts() {
        let grace = pattern(GRACE_PATTERN);
        let bounds = [
            (7_776_000_u64, "s"),
            (129_600, "m"),
            (2160, "h"),
            (90, "d"),
            (90, "days"),
        ];
        for (bound, unit) in bounds {
            let near = (0..=2000).chain(bound.saturating_sub(2000)..=bound + 2000);
            for number in near.chain([bound * 10, bound * 100 + 1]) {
                let text = format!("{number}{unit}");
                assert_eq!(
                    grace.is_match(&text),
                    grace_period(&text).is_some(),
                    "{text}"
                );
                let padded = format!("0{number}{unit}");
                assert_eq!(
                    grace.is_match(&padded),
                    grace_period(&padded).is_some(),
                    "{padded}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn the_patterns_allow_what_the_checks_accept(
            text in "[ -~\\x00-\\x1f\\x7f-\\u{a0}é]{0,12}",
            origin in "(https?://|ftp://|)[!-~ ]{0,12}",
            position in "[0-9.a-]{0,22}",
            digits in "[0-9]{1,20}\\.[0-9]{1,20}",
            grace in "[0-9]{1,8}(s|m|h|d|days|w| )",
        ) {
            let client_id = pattern(CLIENT_ID_PATTERN);
            prop_assert_eq!(client_id.is_match(&text), ClientId::parse(&text).is_ok(), "{:?}", text);
            let label = pattern(LABEL_PATTERN);
            prop_assert_eq!(label.is_match(&text), SessionId::parse(&text).is_ok(), "{:?}", text);
            let free = pattern(TEXT_PATTERN);
            let no_control = !text.chars().any(char::is_control);
            prop_assert_eq!(free.is_match(&text), no_control, "{:?}", text);
            let origins = pattern(ORIGIN_PATTERN);
            prop_assert_eq!(origins.is_match(&origin), check_origin(&origin).is_ok(), "{:?}", origin);
            let event = pattern(EVENT_ID_PATTERN);
            for candidate in [&position, &digits] {
                let parses = candidate.parse::<EventPosition>().is_ok();
                prop_assert_eq!(event.is_match(candidate), parses, "{:?}", candidate);
            }
            let periods = pattern(GRACE_PATTERN);
            prop_assert_eq!(periods.is_match(&grace), grace_period(&grace).is_some(), "{:?}", grace);
        }
    }

    #[test]
    fn grace_periods_of_one_unit_up_to_ninety_days_are_read() {
        let day = 86_400;
        for (text, seconds) in [
            ("0s", 0),
            ("1h", 3600),
            ("7d", 7 * day),
            ("7days", 7 * day),
            ("90d", 90 * day),
            ("2160h", 90 * day),
            ("129600m", 90 * day),
            ("7776000s", 90 * day),
        ] {
            assert_eq!(
                grace_period(text),
                Some(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for text in [
            "",
            "h",
            "1",
            "91d",
            "2161h",
            "129601m",
            "7776001s",
            "01h",
            "1h 30m",
            "1hour",
            " 1h",
            "1h ",
            "-1h",
            "1.5h",
            "99999999999d",
            "１h",
        ] {
            assert_eq!(grace_period(text), None, "{text:?}");
        }
    }
}
