//! See docs/reliability.md: the server killed with SIGKILL in the middle of a load, then
//! started again: nothing it answered `200` for is lost, nothing half done is
//! visible, and the restarted server revokes the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rescind::domain::client::ClientKind;

use crate::helpers::child::{ChildServer, Logs};
use crate::helpers::{Backend, TestApp, encode};
use crate::on_both_backends;
use crate::outage::assert_consistent_after_outage;

const GRANTS: usize = 600;
const TASKS: usize = 8;

async fn a_server_killed_mid_load_loses_nothing_it_answered(backend: Backend) {
    let seeder = TestApp::spawn(backend).await;
    seeder.create_client("spa", ClientKind::Public).await;
    let grants = Arc::new(seeder.grants_with_ttl("spa", 3600, GRANTS).await);
    let server = ChildServer::start(&seeder, Logs::Discarded).await;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let load: Vec<_> = (0..TASKS)
        .map(|_| {
            let (grants, next) = (grants.clone(), next.clone());
            let (http, url) = (
                server.http.clone(),
                format!("{}/oauth2/revoke", server.base),
            );
            tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= GRANTS || started.elapsed() > Duration::from_secs(15) {
                        return answers;
                    }
                    let answer = http
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(encode(&[("token", &grants[index].access_token)]))
                        .send()
                        .await
                        .map(|r| r.status().as_u16());
                    answers.push((index, answer.ok()));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let mut answered_ok = Vec::new();
    let mut unanswered = Vec::new();
    for task in load {
        for (index, answer) in task.await.unwrap_or_else(|e| panic!("{e}")) {
            match answer {
                Some(200) => answered_ok.push(index),
                None => unanswered.push(index),
                Some(other) => panic!("answered {other} before the kill"),
            }
        }
    }
    assert!(
        !answered_ok.is_empty(),
        "nothing was answered before the kill"
    );
    assert!(
        !unanswered.is_empty(),
        "the kill came after the load: it proves nothing"
    );
    let ids: Vec<String> = answered_ok
        .iter()
        .map(|&i| grants[i].grant_id.to_string())
        .collect();
    assert_consistent_after_outage(&seeder, &ids).await;

    // Started again on the same database, it revokes what was left.
    let restarted = ChildServer::start(&seeder, Logs::Discarded).await;
    for &index in &unanswered {
        let body = encode(&[("token", &grants[index].refresh_token)]);
        let status = restarted
            .post("/oauth2/revoke", body, reqwest::header::HeaderMap::new())
            .await;
        assert_eq!(status, 200);
    }
    drop(restarted.stop());
    let all: Vec<String> = grants.iter().map(|g| g.grant_id.to_string()).collect();
    let revoked_before_or_after: Vec<String> = answered_ok
        .iter()
        .chain(&unanswered)
        .map(|&i| all[i].clone())
        .collect();
    assert_consistent_after_outage(&seeder, &revoked_before_or_after).await;
}

on_both_backends!(a_server_killed_mid_load_loses_nothing_it_answered);
