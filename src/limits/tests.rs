use super::keys::MAX_KEYED_ID;
use super::*;

fn settings() -> LimitSettings {
    LimitSettings {
        window: Duration::from_secs(60),
        failed_auth_per_client: 3,
        failed_auth_per_address: 5,
        requests_per_address: 0,
        requests_per_client: 0,
        public_reports_per_minute: 0,
        failed_signatures_per_minute: 0,
    }
}

const ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

#[test]
fn the_pair_is_locked_out_after_its_budget_of_failures_and_only_that_pair() {
    let limiter = Limiter::new(settings());
    for _ in 0..3 {
        assert_eq!(limiter.admit(ADDRESS, Some("app"), true), Ok(()));
        limiter.failed_authentication(ADDRESS, Some("app"));
    }
    let refusal = limiter.admit(ADDRESS, Some("app"), true);
    assert!(
        matches!(refusal, Err(Refusal { limit: "failed_auth_client", retry_after }) if retry_after > Duration::from_secs(58)),
        "{refusal:?}"
    );
    assert_eq!(
        limiter.admit(OTHER, Some("app"), true),
        Ok(()),
        "another address"
    );
    assert_eq!(
        limiter.admit(ADDRESS, Some("other-app"), true),
        Ok(()),
        "another client"
    );
}

#[test]
fn an_address_spraying_client_ids_is_locked_out_by_its_own_budget() {
    let limiter = Limiter::new(settings());
    for n in 0..5 {
        limiter.failed_authentication(ADDRESS, Some(&format!("guess-{n}")));
    }
    assert!(matches!(
        limiter.admit(ADDRESS, Some("fresh"), true),
        Err(Refusal {
            limit: "failed_auth_address",
            ..
        })
    ));
    assert!(matches!(
        limiter.admit(ADDRESS, None, true),
        Err(Refusal {
            limit: "failed_auth_address",
            ..
        })
    ));
}

#[test]
fn a_lockout_refuses_only_requests_that_carry_a_secret() {
    let limiter = Limiter::new(settings());
    for n in 0..5 {
        limiter.failed_authentication(ADDRESS, Some(&format!("guess-{n}")));
    }
    assert!(limiter.admit(ADDRESS, Some("guess-0"), true).is_err());
    assert_eq!(limiter.admit(ADDRESS, None, false), Ok(()), "anonymous");
    assert_eq!(
        limiter.admit(ADDRESS, Some("guess-0"), false),
        Ok(()),
        "a public client's bare id"
    );
}

#[test]
fn failed_signatures_refuse_the_address_after_their_budget_and_only_it() {
    let limiter = Limiter::new(LimitSettings {
        failed_signatures_per_minute: 3,
        ..settings()
    });
    for _ in 0..3 {
        assert_eq!(limiter.admit_signed_report(ADDRESS), Ok(()));
        limiter.failed_signature(ADDRESS);
    }
    assert!(matches!(
        limiter.admit_signed_report(ADDRESS),
        Err(Refusal {
            limit: "failed_signature_address",
            ..
        })
    ));
    assert_eq!(limiter.admit_signed_report(OTHER), Ok(()));
    assert_eq!(
        limiter.admit(ADDRESS, Some("app"), true),
        Ok(()),
        "revocations go on"
    );
}

#[test]
fn counters_never_hold_more_than_their_bound_of_keys() {
    let limiter = Limiter::new(LimitSettings {
        requests_per_client: 1_000,
        ..settings()
    });
    let Some(by_client) = &limiter.requests_by_client else {
        panic!("the per-client limit is on");
    };
    for n in 0..MAX_KEYS + 500 {
        assert_eq!(
            limiter.admit(ADDRESS, Some(&format!("invented-{n}")), false),
            Ok(()),
            "a full request counter fails open"
        );
    }
    assert!(by_client.len() <= MAX_KEYS, "{}", by_client.len());
    // An id longer than any client's is one shared key, whatever its length.
    let long = "x".repeat(16 * 1024);
    assert_eq!(key_for_id(&long), key_for_id(&"y".repeat(300)));
    assert!(key_for_id(&long).len() <= MAX_KEYED_ID);
}

#[test]
fn an_ipv6_host_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
    let host = |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
    assert_eq!(address_key(host(1)), address_key(host(0xffff)));
    assert_ne!(
        address_key(host(1)),
        address_key(IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001, 0xdb8, 0, 2, 0, 0, 0, 1
        )))
    );
    let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
    assert_eq!(address_key(mapped), ADDRESS);
    // Failures spread over a /64 lock the whole /64 out.
    let limiter = Limiter::new(settings());
    for n in 0..5 {
        limiter.failed_authentication(host(n), Some(&format!("guess-{n}")));
    }
    assert!(limiter.admit(host(0x1234), Some("fresh"), true).is_err());
}

#[test]
fn request_limits_are_off_at_zero_and_refuse_past_their_budget() {
    let limiter = Limiter::new(LimitSettings {
        requests_per_address: 2,
        ..settings()
    });
    assert_eq!(limiter.admit(ADDRESS, None, true), Ok(()));
    assert_eq!(limiter.admit(ADDRESS, None, true), Ok(()));
    assert!(matches!(
        limiter.admit(ADDRESS, None, true),
        Err(Refusal {
            limit: "requests_address",
            ..
        })
    ));
    let unlimited = Limiter::new(settings());
    for _ in 0..1000 {
        assert_eq!(unlimited.admit(ADDRESS, Some("app"), true), Ok(()));
    }
}

/// Each kind of lockout has its own bound: an address flooding the scanner
/// endpoints with bad signatures from many addresses fills only the
/// signature lockouts, and a client guessing secrets is still locked out.
#[test]
fn a_full_kind_of_lockout_does_not_crowd_out_another() {
    let limiter = Limiter::new(LimitSettings {
        failed_signatures_per_minute: 1,
        ..settings()
    });
    for n in 0..u32::try_from(MAX_LOCKOUTS).unwrap_or(u32::MAX) {
        limiter.failed_signature(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
    }
    assert_eq!(limiter.signature_lockouts.len(), MAX_LOCKOUTS);
    for n in 0..5 {
        limiter.failed_authentication(ADDRESS, Some(&format!("guess-{n}")));
    }
    assert!(matches!(
        limiter.admit(ADDRESS, Some("fresh"), true),
        Err(Refusal {
            limit: "failed_auth_address",
            ..
        })
    ));
    assert!(limiter.signature_lockouts.len() <= MAX_LOCKOUTS);
}

/// The failed-signature counter holds at most its bound of addresses:
/// past it, failures are counted together (so they lock out sooner).
#[test]
fn the_failed_signature_counter_never_holds_more_than_its_bound_of_keys() {
    let limiter = Limiter::new(LimitSettings {
        failed_signatures_per_minute: 1_000,
        ..settings()
    });
    for n in 0..u32::try_from(MAX_KEYS + 500).unwrap_or(u32::MAX) {
        limiter.failed_signature(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
    }
    let Some(counter) = &limiter.failed_signatures_by_address else {
        panic!("the failed-signature budget is on");
    };
    // Its bound, plus the one key the overflowing addresses share.
    assert!(counter.len() <= MAX_KEYS + 1, "{}", counter.len());
}
