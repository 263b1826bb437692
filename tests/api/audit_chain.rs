//! Tamper evidence: `keymint audit verify` finds an edited or deleted audit batch.

use keymint::core::clock::Clock as _;

use crate::helpers::{TestApp, cli, spawn_app};

/// Three batches of audit events, a token each, a second apart.
async fn app_with_three_batches() -> TestApp {
    let app = spawn_app().await;
    let acme = app.create_account("acme").await;
    for _ in 0..3 {
        app.token_for(&acme.primary.secret).await;
        app.tokens.audit().flush().await;
        app.clock.advance(chrono::Duration::seconds(1));
    }
    app
}

/// Runs SQL on the app's database as someone with write access to it would.
async fn tamper(app: &TestApp, sql: &str) {
    if app.database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn batch_ids(app: &TestApp) -> Vec<i64> {
    let sql = "SELECT id FROM audit_batches ORDER BY id";
    if app.database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap()
    }
}

/// `keymint audit verify`: whether it passed, and what it said.
async fn verify(app: &TestApp) -> (bool, String) {
    let out = cli(&app.database_url, &["audit", "verify"]).await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test]
async fn an_untouched_trail_verifies_and_names_its_head() {
    let app = app_with_three_batches().await;
    let ids = batch_ids(&app).await;
    assert!(ids.len() >= 3, "{ids:?}");

    let (passed, said) = verify(&app).await;

    assert!(passed, "{said}");
    assert!(
        said.contains(&format!("{} chained batches", ids.len())),
        "{said}"
    );
    assert!(
        said.contains(&format!("head batch {} ", ids.last().unwrap())),
        "{said}"
    );
}

#[tokio::test]
async fn an_edited_batch_is_the_first_break() {
    let app = app_with_three_batches().await;
    let ids = batch_ids(&app).await;

    tamper(
        &app,
        &format!(
            "UPDATE audit_batches SET events = replace(events, 'acme', 'acmf') WHERE id = {}",
            ids[1]
        ),
    )
    .await;
    let (passed, said) = verify(&app).await;

    assert!(!passed);
    assert!(
        said.contains(&format!("audit batch {} was altered", ids[1])),
        "{said}"
    );
}

#[tokio::test]
async fn a_batch_deleted_from_the_middle_breaks_the_next() {
    let app = app_with_three_batches().await;
    let ids = batch_ids(&app).await;

    tamper(
        &app,
        &format!("DELETE FROM audit_batches WHERE id = {}", ids[1]),
    )
    .await;
    let (passed, said) = verify(&app).await;

    assert!(!passed);
    assert!(
        said.contains(&format!("audit batch {} was altered", ids[2])),
        "{said}"
    );
}

#[tokio::test]
async fn batches_deleted_from_the_end_are_missed_by_the_head() {
    let app = app_with_three_batches().await;
    let ids = batch_ids(&app).await;
    let last = *ids.last().unwrap();

    tamper(
        &app,
        &format!("DELETE FROM audit_batches WHERE id = {last}"),
    )
    .await;
    let (passed, said) = verify(&app).await;

    assert!(!passed);
    assert!(
        said.contains("were deleted") && said.contains(&last.to_string()),
        "{said}"
    );
}

#[tokio::test]
async fn pruning_the_oldest_batches_keeps_the_rest_verifiable() {
    let app = app_with_three_batches().await;
    let ids = batch_ids(&app).await;

    // Everything up to the first token's batch is older than a second ago.
    let pruned = app
        .store
        .prune_audit(app.clock.now() - chrono::Duration::milliseconds(2500))
        .await
        .unwrap();
    let (passed, said) = verify(&app).await;

    assert!(pruned >= 1);
    assert!(batch_ids(&app).await.len() < ids.len());
    assert!(passed, "{said}");

    // Pruning again moves the anchor on.
    let again = app
        .store
        .prune_audit(app.clock.now() - chrono::Duration::milliseconds(1500))
        .await
        .unwrap();
    let (passed, said) = verify(&app).await;
    assert!(again >= 1);
    assert!(passed, "{said}");
}
