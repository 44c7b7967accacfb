use super::*;

#[test]
fn an_invented_method_is_labelled_other() {
    assert_eq!(method_label("POST"), "POST");
    assert_eq!(method_label("post"), "other", "methods are case-sensitive");
    assert_eq!(method_label("BREW"), "other");
}

#[test]
fn a_counted_revocation_appears_with_its_labels() {
    let metrics = Metrics::new();
    metrics.revocation("revoked", "anonymous");
    metrics.revocation("revoked", "anonymous");
    let text = metrics.render();
    assert!(
        text.contains("rescind_revocations_total{outcome=\"revoked\",presenter=\"anonymous\"} 2"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn closed_label_sets_start_at_zero() {
    let text = Metrics::new().render();
    for series in [
        "rescind_webhook_attempts_total{outcome=\"dead\"} 0",
        "rescind_rate_limited_total{limit=\"failed_auth_client\"} 0",
        "rescind_connections_at_bound_total{action=\"refused\"} 0",
        "rescind_retention_purged_rows_total{reason=\"tokens\"} 0",
        "rescind_revocations_total{outcome=\"revoked\",presenter=\"anonymous\"} 0",
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
}

#[test]
fn request_durations_land_in_a_histogram_per_route() {
    let metrics = Metrics::new();
    metrics.request("public", "/oauth2/revoke", "POST", 200, 0.003);
    let text = metrics.render();
    assert!(
        text.contains("rescind_http_request_duration_seconds_count{listener=\"public\",route=\"/oauth2/revoke\",method=\"POST\",status=\"200\"} 1"),
        "{text}"
    );
}
