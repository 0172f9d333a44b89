//! The benchmark's yardstick: a minimal axum handler answering a fixed JSON body of the poll's
//! shape. Throughput figures are given as ratios to it, measured in the same run.

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let app = Router::new().route(
        "/api/lines",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"lines":[],"cursor":0}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("baseline at http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await
}
